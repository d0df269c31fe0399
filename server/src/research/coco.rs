//! COCO instance segmentation for a patch grid: images are the patches (named as
//! `tessera patches` names them), annotations the instances of each patch with their
//! polygons clipped to it, in the patch's pixel coordinates.
//!
//! Coordinates: a patch's pixel `(col, row)` is the square `[col, col+1) × [row, row+1)`,
//! so a level-0 point `(X, Y)` is at `((X − x) / d, (Y − y) / d)` for a patch at `(x, y)`
//! with downsample `d`. Each annotation's `segmentation` is its polygons clipped to the
//! patch (exterior rings, `[x1, y1, x2, y2, …]`); an instance whose clipped shape has a
//! hole is given as an uncompressed RLE (`{"counts", "size"}`, column-major) of
//! [`super::raster`]'s rasterisation instead, since COCO polygons cannot hold holes.
//! `area` is the clipped polygons' area in patch pixels, `bbox` their `[x, y, w, h]`,
//! `category_id` the class number (the same numbers as the masks), `iscrowd` 0, and
//! `tessera_id` the annotation's UUID.

use super::classes::ClassNumbers;
use super::dataset::{self, Plan};
use super::error::ResearchError;
use super::grid;
use super::patch::{Instance, PatchSource};
use super::raster::{Masks, Window};
use crate::annotations::geometry::{Geometry, SCALE};
use geo::{Area, BooleanOps, BoundingRect, Coord, LineString, MultiPolygon, Polygon};
use rayon::prelude::*;
use serde_json::{Value, json};

/// The COCO document for `plan`'s grid (its `format` is ignored; `file_name` is the PNG
/// layout's `images/KEY.png`).
pub fn export(
    source: &PatchSource<'_>,
    plan: &Plan,
    classes: &ClassNumbers,
    background: [u8; 3],
) -> Result<Value, ResearchError> {
    let corners = grid::corners(plan.area, plan.level, plan.size, plan.stride);
    let per_patch: Vec<Option<(Window, Vec<Value>)>> = corners
        .par_iter()
        .map(|&(x, y)| {
            let window = source.window(x, y, plan.level, plan.size, plan.size)?;
            let patch = source.patch(window, plan.tissue_only)?;
            if plan.tissue_only
                && !grid::shows_tissue(patch.rgb.as_deref().unwrap_or_default(), background)
            {
                return Ok(None);
            }
            let anns: Vec<Value> = patch
                .instances
                .iter()
                .filter_map(|i| instance_json(&window, i))
                .collect();
            Ok(Some((window, anns)))
        })
        .collect::<Result<_, ResearchError>>()?;
    let (mut images, mut annotations) = (Vec::new(), Vec::new());
    for (window, anns) in per_patch.into_iter().flatten() {
        let image_id = images.len() + 1;
        let key = dataset::key(plan.level, window.x, window.y);
        images.push(json!({
            "id": image_id,
            "file_name": format!("images/{key}.png"),
            "width": window.width,
            "height": window.height,
            "slide": plan.slide,
            "level": plan.level,
            "x": window.x,
            "y": window.y,
        }));
        for mut a in anns {
            if let Some(map) = a.as_object_mut() {
                map.insert("id".into(), (annotations.len() + 1).into());
                map.insert("image_id".into(), image_id.into());
            }
            annotations.push(a);
        }
    }
    let categories: Vec<Value> = classes
        .iter()
        .map(|(name, id)| json!({"id": id, "name": name, "supercategory": ""}))
        .collect();
    Ok(json!({
        "info": {
            "description": format!("Tessera patches of slide {} at level {}", plan.slide, plan.level),
            "version": "1.0",
        },
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }))
}

/// The annotation object of one instance (without `id` and `image_id`); `None` when
/// nothing of it is left inside the patch after clipping.
fn instance_json(window: &Window, instance: &Instance) -> Option<Value> {
    let clipped = clip(window, &instance.geometry);
    if clipped.0.is_empty() {
        return None;
    }
    let area = clipped.unsigned_area();
    let bbox = clipped.bounding_rect()?;
    let has_hole = clipped.0.iter().any(|p| !p.interiors().is_empty());
    let segmentation = if has_hole {
        rle(window, &instance.geometry)
    } else {
        Value::Array(
            clipped
                .0
                .iter()
                .map(|p| {
                    let ring = &p.exterior().0;
                    let open = &ring[..ring.len().saturating_sub(1)];
                    Value::Array(
                        open.iter()
                            .flat_map(|c| [round2(c.x), round2(c.y)])
                            .map(Value::from)
                            .collect(),
                    )
                })
                .filter(|v| v.as_array().is_some_and(|a| a.len() >= 6))
                .collect(),
        )
    };
    Some(json!({
        "category_id": instance.class,
        "segmentation": segmentation,
        "area": round2(area),
        "bbox": [round2(bbox.min().x), round2(bbox.min().y), round2(bbox.width()), round2(bbox.height())],
        "iscrowd": 0,
        "tessera_id": instance.id.to_string(),
    }))
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The geometry in the patch's pixel coordinates, its rings combined by the even-odd
/// rule, clipped to the patch.
fn clip(window: &Window, geometry: &Geometry) -> MultiPolygon<f64> {
    let d = f64::from(window.downsample);
    let to_patch = |p: &[i32; 2]| Coord {
        x: (f64::from(p[0]) / SCALE - window.x as f64) / d,
        y: (f64::from(p[1]) / SCALE - window.y as f64) / d,
    };
    let rings_of = |rings: &Vec<Vec<[i32; 2]>>| -> Vec<LineString<f64>> {
        rings
            .iter()
            .map(|r| LineString::new(r.iter().map(to_patch).collect()))
            .collect()
    };
    let frame = Polygon::new(
        LineString::from(vec![
            (0.0, 0.0),
            (f64::from(window.width), 0.0),
            (f64::from(window.width), f64::from(window.height)),
            (0.0, f64::from(window.height)),
        ]),
        vec![],
    );
    let polygons: Vec<Polygon<f64>> = match geometry {
        Geometry::Polygon(rings) => vec![even_odd(rings_of(rings))],
        Geometry::MultiPolygon(parts) => parts.iter().map(|r| even_odd(rings_of(r))).collect(),
        _ => return MultiPolygon::new(vec![]),
    };
    let mut out = MultiPolygon::new(vec![]);
    for p in polygons {
        out = out.union(&p.intersection(&frame));
    }
    out
}

/// A polygon whose rings the boolean operations read by the even-odd rule (they treat
/// exterior and holes alike as contours).
fn even_odd(mut rings: Vec<LineString<f64>>) -> Polygon<f64> {
    if rings.is_empty() {
        return Polygon::new(LineString::new(vec![]), vec![]);
    }
    let exterior = rings.remove(0);
    Polygon::new(exterior, rings)
}

/// Uncompressed COCO RLE of the geometry alone, by the raster convention.
fn rle(window: &Window, geometry: &Geometry) -> Value {
    let mut masks = Masks::new(window.width, window.height);
    masks.paint(window, geometry, 1, 1);
    let (w, h) = (window.width as usize, window.height as usize);
    let mut counts = Vec::new();
    let (mut current, mut run) = (0u32, 0u64);
    for col in 0..w {
        for row in 0..h {
            let v = u32::from(masks.instance[row * w + col] != 0);
            if v == current {
                run += 1;
            } else {
                counts.push(run);
                current = v;
                run = 1;
            }
        }
    }
    counts.push(run);
    json!({"counts": counts, "size": [h, w]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(points: &[(f64, f64)]) -> Vec<[i32; 2]> {
        points
            .iter()
            .map(|&(x, y)| [(x * SCALE) as i32, (y * SCALE) as i32])
            .collect()
    }

    fn window() -> Window {
        Window {
            x: 100,
            y: 200,
            downsample: 2,
            width: 10,
            height: 10,
        }
    }

    #[test]
    fn polygons_are_clipped_to_the_patch_in_its_pixels() -> Result<(), ResearchError> {
        // Level-0 square 110..130 × 190..210 is, at d = 2 from (100, 200), 5..15 × -5..5.
        let g = Geometry::Polygon(vec![ring(&[
            (110.0, 190.0),
            (130.0, 190.0),
            (130.0, 210.0),
            (110.0, 210.0),
        ])]);
        let i = Instance {
            label: 1,
            id: uuid::Uuid::nil(),
            class: 3,
            geometry: g,
        };
        let v = instance_json(&window(), &i).ok_or(ResearchError::Usage("none".into()))?;
        assert_eq!(v["area"], 25.0);
        assert_eq!(v["bbox"], json!([5.0, 0.0, 5.0, 5.0]));
        assert_eq!(v["category_id"], 3);
        let seg = v["segmentation"][0].as_array().map_or(0, Vec::len);
        assert_eq!(seg, 8);
        Ok(())
    }

    #[test]
    fn shapes_with_holes_become_rle_of_the_raster() -> Result<(), ResearchError> {
        let g = Geometry::Polygon(vec![
            ring(&[
                (100.0, 200.0),
                (120.0, 200.0),
                (120.0, 220.0),
                (100.0, 220.0),
            ]),
            ring(&[
                (104.0, 204.0),
                (116.0, 204.0),
                (116.0, 216.0),
                (104.0, 216.0),
            ]),
        ]);
        let i = Instance {
            label: 1,
            id: uuid::Uuid::nil(),
            class: 1,
            geometry: g,
        };
        let v = instance_json(&window(), &i).ok_or(ResearchError::Usage("none".into()))?;
        assert_eq!(v["area"], 100.0 - 36.0);
        let counts: Vec<u64> = serde_json::from_value(v["segmentation"]["counts"].clone())
            .map_err(|e| ResearchError::Usage(e.to_string()))?;
        // Column-major: columns 0 and 1 and the top two pixels of column 2 are one run.
        assert_eq!(&counts[..2], &[0, 22]);
        assert_eq!(counts.iter().sum::<u64>(), 100);
        Ok(())
    }
}
