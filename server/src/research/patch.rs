//! One patch: its pixels from the lossless cache and its masks from the annotations the
//! R-tree finds in its box, painted by [`super::raster`]'s convention.

use super::classes::ClassNumbers;
use super::error::ResearchError;
use super::raster::{Masks, Window};
use crate::annotations::geometry::{Geometry, Rect};
use crate::annotations::index::SlideIndex;
use crate::annotations::query::{Filter, QueryParams};
use tiler::CacheReader;
use uuid::Uuid;

/// Which annotations a patch's masks show (comma-separated lists, as queries take them).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub layers: Option<String>,
    pub classes: Option<String>,
    pub statuses: Option<String>,
    /// Blind mode: only what this caller may see (set by the server from the caller's role).
    pub blind_for: Option<String>,
}

impl Selection {
    pub(crate) fn filter(&self, index: &SlideIndex) -> Result<Filter, ResearchError> {
        let params = QueryParams {
            layer: self.layers.clone(),
            class: self.classes.clone(),
            status: self.statuses.clone(),
            blind_for: self.blind_for.clone(),
            ..QueryParams::default()
        };
        Ok(Filter::new(&params, index)?)
    }
}

/// An annotation in a patch's instance mask.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Its value in the instance mask (1, 2, … in painting order).
    pub label: u32,
    pub id: Uuid,
    /// Its value in the semantic mask.
    pub class: u8,
    /// Level-0 geometry, whole (not clipped to the patch).
    pub geometry: Geometry,
}

/// A patch's pixels (packed RGB, when asked for), masks and the instances painted.
#[derive(Debug, Clone)]
pub struct Patch {
    pub window: Window,
    pub level: u32,
    pub rgb: Option<Vec<u8>>,
    pub masks: Masks,
    /// Every annotation that painted at least one pixel, by label.
    pub instances: Vec<Instance>,
}

/// Buffers one thread reuses from patch to patch (a patch's pixels and masks are
/// hundreds of KB: allocating them for each of thousands of patches cost more than
/// filling them). [`Scratch::with`] lends the calling thread's own.
#[derive(Debug)]
pub struct Scratch {
    /// The last pixels read by [`PatchSource::read_pixels_into`] into it.
    pub rgb: image::RgbImage,
    masks: Masks,
    /// Whether `masks` may hold anything but background.
    painted: bool,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch {
        rgb: image::RgbImage::new(0, 0),
        masks: Masks::new(0, 0),
        painted: false,
    });
}

impl Scratch {
    /// Runs `f` with the calling thread's buffers.
    pub fn with<T>(f: impl FnOnce(&mut Self) -> T) -> T {
        SCRATCH.with_borrow_mut(f)
    }

    /// The masks [`PatchSource::paint_scratch`] painted last.
    #[must_use]
    pub fn masks(&self) -> &Masks {
        &self.masks
    }
}

/// What patches are cut from: a slide's cache and annotation index, the selection
/// compiled against that index, and the export's class numbers.
pub struct PatchSource<'a> {
    cache: &'a CacheReader,
    /// Decoded tiles kept between patches, and the cache's id in them.
    decoded: Option<(&'a tiler::DecodedTiles, u64)>,
    index: &'a SlideIndex,
    filter: Filter,
    classes: &'a ClassNumbers,
}

impl std::fmt::Debug for PatchSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatchSource")
            .field("cache", &self.cache.path())
            .finish_non_exhaustive()
    }
}

impl<'a> PatchSource<'a> {
    pub fn new(
        cache: &'a CacheReader,
        index: &'a SlideIndex,
        selection: &Selection,
        classes: &'a ClassNumbers,
    ) -> Result<Self, ResearchError> {
        Ok(Self {
            cache,
            decoded: None,
            index,
            filter: selection.filter(index)?,
            classes,
        })
    }

    /// Reads pixels through `tiles` (where this cache is `id`), so that overlapping
    /// patches decode each tile once.
    #[must_use]
    pub fn with_decoded(mut self, tiles: &'a tiler::DecodedTiles, id: u64) -> Self {
        self.decoded = Some((tiles, id));
        self
    }

    /// The window of `size` pixels at `level` whose top-left is level-0 `(x, y)`,
    /// checked against the cache's levels.
    pub fn window(
        &self,
        x: i64,
        y: i64,
        level: u32,
        width: u32,
        height: u32,
    ) -> Result<Window, ResearchError> {
        let levels = self.cache.grid().level_count();
        if level >= levels {
            return Err(ResearchError::Usage(format!(
                "level {level} does not exist (the slide has levels 0 to {})",
                levels - 1
            )));
        }
        tiler::check_region_size(width, height)?;
        Ok(Window {
            x,
            y,
            downsample: 1 << level,
            width,
            height,
        })
    }

    /// Cuts one patch: pixels if `pixels`, and masks of the selected annotations.
    pub fn patch(&self, window: Window, pixels: bool) -> Result<Patch, ResearchError> {
        let level = window.downsample.trailing_zeros();
        let rgb = if pixels {
            Some(read_pixels(self.cache, self.decoded, &window)?)
        } else {
            None
        };
        let mut masks = Masks::new(window.width, window.height);
        let instances = self.paint(&window, &mut masks)?;
        Ok(Patch {
            window,
            level,
            rgb,
            masks,
            instances,
        })
    }

    /// Paints the selected annotations of `window` into `masks` (the window's size),
    /// which must be all background; returns the instances painted. When none is,
    /// `masks` is not touched.
    pub fn paint(
        &self,
        window: &Window,
        masks: &mut Masks,
    ) -> Result<Vec<Instance>, ResearchError> {
        let mut instances = Vec::new();
        for (id, class, geometry) in self.in_painting_order(window)? {
            let label = instances.len() as u32 + 1;
            if masks.paint(window, &geometry, class, label) > 0 {
                instances.push(Instance {
                    label,
                    id,
                    class,
                    geometry,
                });
            }
        }
        if instances.len() > usize::from(u16::MAX) {
            return Err(ResearchError::Limit(format!(
                "the patch at ({}, {}) holds {} instances, more than a 16-bit instance mask can label (65535); ask for a smaller patch",
                window.x,
                window.y,
                instances.len()
            )));
        }
        Ok(instances)
    }

    /// Paints the selected annotations of `window` into `scratch`'s masks (all
    /// background first; cleared only when the last patch painted some); returns the
    /// instances painted.
    pub fn paint_scratch(
        &self,
        window: &Window,
        scratch: &mut Scratch,
    ) -> Result<Vec<Instance>, ResearchError> {
        let (w, h) = (window.width, window.height);
        if (scratch.masks.width, scratch.masks.height) != (w, h) {
            scratch.masks = Masks::new(w, h);
        } else if scratch.painted {
            scratch.masks.clear();
        }
        // Until painting succeeds, assume it left something behind.
        scratch.painted = true;
        let instances = self.paint(window, &mut scratch.masks)?;
        scratch.painted = !instances.is_empty();
        Ok(instances)
    }

    /// The packed RGB pixels of `window` into `out` (its buffer reused), through the
    /// decoded tiles when this source has them.
    pub fn read_pixels_into(
        &self,
        window: &Window,
        out: &mut image::RgbImage,
    ) -> Result<(), ResearchError> {
        read_pixels_into(self.cache, self.decoded, window, out)
    }

    /// The selected annotations with a class number whose box meets the window, oldest
    /// first (creation time, then id): a later annotation is painted on top.
    fn in_painting_order(
        &self,
        window: &Window,
    ) -> Result<Vec<(Uuid, u8, Geometry)>, ResearchError> {
        let (x0, y0, x1, y1) = window.level0_box();
        let rect = Rect::from_pixels(x0 as f64, y0 as f64, (x1 - x0) as f64, (y1 - y0) as f64);
        let mut found = Vec::new();
        for n in self.index.candidates(&rect) {
            let slot = self.index.slot(n);
            if !self.filter.matches(slot) {
                continue;
            }
            let Some(class) = self.classes.number(self.index.classes.name(slot.class)) else {
                continue;
            };
            let (geometry, created) = self
                .index
                .geometry_and_created(n)
                .map_err(|_| ResearchError::Corrupt(slot.id))?;
            if matches!(geometry, Geometry::Polygon(_) | Geometry::MultiPolygon(_)) {
                found.push((created, slot.id, class, geometry));
            }
        }
        found.sort_unstable_by_key(|&(created, id, ..)| (created, id));
        Ok(found
            .into_iter()
            .map(|(_, id, class, geometry)| (id, class, geometry))
            .collect())
    }
}

/// The packed RGB pixels of `window` from `cache` into `out` (its buffer reused), through
/// `decoded` when given.
pub fn read_pixels_into(
    cache: &CacheReader,
    decoded: Option<(&tiler::DecodedTiles, u64)>,
    window: &Window,
    out: &mut image::RgbImage,
) -> Result<(), ResearchError> {
    let level = window.downsample.trailing_zeros();
    let at = (window.x, window.y);
    let size = (window.width, window.height);
    match decoded {
        Some((tiles, id)) => tiles.read_region_into(cache, id, level, at, size, out)?,
        None => *out = tiler::read_cache_region(cache, level, at.0, at.1, size.0, size.1)?,
    }
    Ok(())
}

/// The packed RGB pixels of `window` from `cache`, through `decoded` when given.
pub fn read_pixels(
    cache: &CacheReader,
    decoded: Option<(&tiler::DecodedTiles, u64)>,
    window: &Window,
) -> Result<Vec<u8>, ResearchError> {
    let level = window.downsample.trailing_zeros();
    let at = (window.x, window.y);
    let size = (window.width, window.height);
    let image = match decoded {
        Some((tiles, id)) => tiles.read_region(cache, id, level, at, size)?,
        None => tiler::read_cache_region(cache, level, at.0, at.1, size.0, size.1)?,
    };
    Ok(image.into_raw())
}
