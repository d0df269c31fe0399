//! Pure-Rust reader for Aperio SVS and generic TIFF (tiled pyramids or one stripped image).
//!
//! Source tiles are decoded by the tiff crate (JPEG with JPEGTables in RGB or YCbCr,
//! Deflate, LZW, uncompressed). Each thread borrows a decoder from a per-level pool, so
//! tiles decode in parallel; decoded tiles sit in a small FIFO cache because output tiles
//! rarely align with source tiles (Aperio uses 240, the cache 256).

use super::chunk_cache::ChunkCache;
use super::jpeg_tile::{JpegColour, decode_rgb};
use super::{
    AssociatedImage, BACKGROUND, Rect, SlideInfo, SlideSource, SourceKind, read_tiled_region,
    tiled_levels,
};
use crate::error::{Result, TilePlace, TilerError};
use crate::pixels;
use image::RgbImage;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tiff::ColorType;
use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::tags::Tag;

type TiffDecoder = Decoder<BufReader<File>>;

/// Most IFDs a file may have before it is refused.
const MAX_IFDS: usize = 512;
/// Bytes of decoded source tiles kept for reuse.
const CHUNK_CACHE_BYTES: usize = 96 << 20;

/// Compression codes the tiff crate decodes here.
const SUPPORTED_COMPRESSION: [u16; 6] = [1, 5, 7, 8, 32946, 32773];

#[derive(Debug)]
struct TiffLevel {
    ifd: usize,
    width: u32,
    height: u32,
    chunk_width: u32,
    chunk_height: u32,
    chunks_across: u32,
    color: ColorType,
    /// Where each chunk's compressed bytes are.
    offsets: Vec<u64>,
    byte_counts: Vec<u64>,
    /// Set for JPEG levels, which are decoded here rather than by the tiff crate.
    jpeg: Option<JpegLevel>,
}

/// What decoding a JPEG-compressed level needs besides the tile bytes.
#[derive(Debug)]
struct JpegLevel {
    /// Shared quantisation and Huffman tables (TIFF tag 347), if the file has them.
    tables: Option<Vec<u8>>,
    /// Photometric YCbCr: convert to RGB. Otherwise the samples already are RGB (Aperio)
    /// or grey, and are taken as they are.
    ycbcr: bool,
}

/// See the module documentation.
#[derive(Debug)]
pub struct TiffSource {
    info: SlideInfo,
    /// Shared handle for positional reads of JPEG tiles.
    file: File,
    levels: Vec<TiffLevel>,
    pools: Vec<Mutex<Vec<TiffDecoder>>>,
    chunks: ChunkCache,
}

/// What one IFD holds, as read while scanning the file.
#[derive(Debug)]
struct IfdSummary {
    index: usize,
    width: u32,
    height: u32,
    tiled: bool,
    compression: u16,
    description: String,
}

/// Text tags of the first IFD and the names OpenSlide gives them (`tiff.DateTime`…).
const TEXT_TAGS: [(u16, &str); 9] = [
    (270, "tiff.ImageDescription"),
    (269, "tiff.DocumentName"),
    (271, "tiff.Make"),
    (272, "tiff.Model"),
    (285, "tiff.PageName"),
    (305, "tiff.Software"),
    (306, "tiff.DateTime"),
    (315, "tiff.Artist"),
    (316, "tiff.HostComputer"),
];
/// TIFF Copyright, beside [`TEXT_TAGS`].
const COPYRIGHT_TAG: (u16, &str) = (33_432, "tiff.Copyright");

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.ifd_value_size = 256 << 20;
    limits.decoding_buffer_size = 512 << 20;
    limits
}

fn open_decoder(path: &Path) -> Result<TiffDecoder> {
    let file = File::open(path).map_err(|e| TilerError::io(path, e))?;
    Decoder::new(BufReader::with_capacity(64 << 10, file))
        .map(|d| d.with_limits(limits()))
        .map_err(|e| TilerError::bad_file(path, format!("not a readable TIFF: {e}")))
}

impl TiffSource {
    /// Opens a TIFF, checking that every tile the reader will need lies inside the file.
    pub fn open(path: &Path) -> Result<Self> {
        let file_len = std::fs::metadata(path)
            .map_err(|e| TilerError::io(path, e))?
            .len();
        let mut decoder = open_decoder(path)?;
        let ifds = scan_ifds(path, &mut decoder)?;
        let first = ifds
            .first()
            .ok_or_else(|| TilerError::bad_file(path, "TIFF holds no image"))?;
        let aperio = first.description.starts_with("Aperio");
        let mut level_ifds: Vec<&IfdSummary> = if first.tiled {
            ifds.iter().filter(|i| i.tiled).collect()
        } else {
            vec![first]
        };
        level_ifds.sort_by_key(|i| std::cmp::Reverse(i.width));
        let mut levels = Vec::new();
        for ifd in &level_ifds {
            if !SUPPORTED_COMPRESSION.contains(&ifd.compression) {
                let what = match ifd.compression {
                    33003 | 33005 => "Aperio JPEG 2000 compression (read it with OpenSlide)".into(),
                    c => format!("TIFF compression {c}"),
                };
                return Err(TilerError::unsupported(path, what));
            }
            levels.push(read_level(
                path,
                &mut decoder,
                ifd,
                levels.len() as u32,
                file_len,
            )?);
        }
        let (w0, h0) = (levels[0].width, levels[0].height);
        let sizes: Vec<_> = levels
            .iter()
            .map(|l| (l.width, l.height, l.chunk_width, l.chunk_height))
            .collect();
        let source_levels = tiled_levels(&sizes);
        let (mpp, objective) = if aperio {
            aperio_fields(&first.description)
        } else {
            decoder
                .seek_to_image(0)
                .map_err(|e| TilerError::bad_file(path, e.to_string()))?;
            (resolution_mpp(&mut decoder), None)
        };
        let associated_images = associated_images(&ifds, level_ifds[0].index);
        decoder
            .seek_to_image(0)
            .map_err(|e| TilerError::bad_file(path, e.to_string()))?;
        let mut properties = first_ifd_properties(&mut decoder);
        if aperio {
            properties.extend(
                crate::deid::embedded_fields(&first.description)
                    .into_iter()
                    .map(|(k, v)| (format!("aperio.{k}"), v)),
            );
        }
        let info = SlideInfo {
            path: path.to_path_buf(),
            reader: SourceKind::Tiff,
            vendor: if aperio { "aperio" } else { "generic-tiff" }.into(),
            levels: source_levels,
            mpp_x: mpp,
            mpp_y: mpp,
            objective_power: objective,
            scanner_model: None,
            bounds: Rect::whole(w0, h0),
            associated_images,
            properties,
        };
        let pools = levels.iter().map(|_| Mutex::new(Vec::new())).collect();
        let source = Self {
            info,
            file: File::open(path).map_err(|e| TilerError::io(path, e))?,
            levels,
            pools,
            chunks: ChunkCache::new(CHUNK_CACHE_BYTES),
        };
        source.give_back(0, {
            decoder
                .seek_to_image(source.levels[0].ifd)
                .map_err(|e| TilerError::bad_file(path, e.to_string()))?;
            decoder
        });
        Ok(source)
    }

    fn path(&self) -> &PathBuf {
        &self.info.path
    }

    fn borrow_decoder(&self, level: usize) -> Result<TiffDecoder> {
        let pooled = self.pools[level]
            .lock()
            .map_err(|_| TilerError::Usage("decoder pool poisoned".into()))?
            .pop();
        if let Some(d) = pooled {
            return Ok(d);
        }
        let mut decoder = open_decoder(self.path())?;
        decoder
            .seek_to_image(self.levels[level].ifd)
            .map_err(|e| TilerError::bad_file(self.path(), e.to_string()))?;
        Ok(decoder)
    }

    fn give_back(&self, level: usize, decoder: TiffDecoder) {
        if let Ok(mut pool) = self.pools[level].lock() {
            pool.push(decoder);
        }
    }

    /// Decoded RGB of one source chunk, from the cache or freshly decoded.
    fn chunk(&self, level: usize, col: u32, row: u32) -> Result<Arc<Vec<u8>>> {
        let l = &self.levels[level];
        let index = row * l.chunks_across + col;
        let size = l.chunk_width as usize * l.chunk_height as usize * 3;
        self.chunks.get_or_decode((level as u32, index), size, || {
            self.decode_chunk(level, col, row)
        })
    }

    fn decode_chunk(&self, level: usize, col: u32, row: u32) -> Result<Vec<u8>> {
        let l = &self.levels[level];
        let index = row * l.chunks_across + col;
        let place = TilePlace {
            level: level as u32,
            col,
            row,
        };
        let (cw, ch) = chunk_data_size(l, col, row);
        if l.byte_counts[index as usize] == 0 {
            return Ok(BACKGROUND.repeat(cw as usize * ch as usize));
        }
        if let Some(jpeg) = &l.jpeg {
            return self.decode_jpeg_chunk(l, jpeg, index, (cw, ch), place);
        }
        let mut decoder = self.borrow_decoder(level)?;
        let decoded = decoder.read_chunk(index);
        self.give_back(level, decoder);
        let decoded =
            decoded.map_err(|e| TilerError::bad_tile(self.path(), place, e.to_string()))?;
        let rgb = to_rgb(decoded, l.color)
            .ok_or_else(|| TilerError::bad_tile(self.path(), place, "unexpected sample type"))?;
        if rgb.len() != cw as usize * ch as usize * 3 {
            return Err(TilerError::bad_tile(
                self.path(),
                place,
                format!("decoded {} bytes for a {cw}×{ch} tile", rgb.len()),
            ));
        }
        Ok(rgb)
    }
}

impl TiffSource {
    /// Reads a JPEG tile's bytes with one positional read and decodes it.
    fn decode_jpeg_chunk(
        &self,
        l: &TiffLevel,
        jpeg: &JpegLevel,
        index: u32,
        (cw, ch): (u32, u32),
        place: TilePlace,
    ) -> Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let bad = |reason: String| TilerError::bad_tile(self.path(), place, reason);
        let len = l.byte_counts[index as usize] as usize;
        let mut raw = vec![0u8; len];
        self.file
            .read_exact_at(&mut raw, l.offsets[index as usize])
            .map_err(|e| bad(e.to_string()))?;
        // Abbreviated tile streams follow the shared tables: drop the tables' EOI and the
        // tile's SOI to make one stream.
        let stream = match &jpeg.tables {
            Some(tables) if tables.len() >= 4 && raw.len() >= 2 => {
                let mut joined = Vec::with_capacity(tables.len() + raw.len());
                joined.extend_from_slice(&tables[..tables.len() - 2]);
                joined.extend_from_slice(&raw[2..]);
                joined
            }
            _ => raw,
        };
        let colour = if jpeg.ycbcr {
            JpegColour::YCbCr
        } else {
            JpegColour::AsStored
        };
        decode_rgb(&stream, colour, (l.chunk_width, l.chunk_height), (cw, ch)).map_err(bad)
    }
}

fn chunk_data_size(l: &TiffLevel, col: u32, row: u32) -> (u32, u32) {
    (
        l.chunk_width.min(l.width - col * l.chunk_width),
        l.chunk_height.min(l.height - row * l.chunk_height),
    )
}

impl SlideSource for TiffSource {
    fn info(&self) -> &SlideInfo {
        &self.info
    }

    fn read_region(&self, level: u32, x: i64, y: i64, width: u32, height: u32) -> Result<RgbImage> {
        let li = level as usize;
        read_tiled_region(&self.info, level, (x, y, width, height), |col, row| {
            let data_width = chunk_data_size(&self.levels[li], col, row).0;
            Ok((self.chunk(li, col, row)?, data_width))
        })
    }
}

/// The stripped images beside the pyramid (Aperio: thumbnail, label, macro).
fn associated_images(ifds: &[IfdSummary], level0: usize) -> Vec<AssociatedImage> {
    ifds.iter()
        .filter(|i| !i.tiled && i.index != level0)
        .map(|i| {
            let d = i.description.to_ascii_lowercase();
            let name = if d.contains("label") {
                "label"
            } else if d.contains("macro") {
                "macro"
            } else {
                "thumbnail"
            };
            AssociatedImage {
                name: name.into(),
                width: i.width,
                height: i.height,
            }
        })
        .collect()
}

/// The current IFD's text tags and resolution, named as OpenSlide names them. Tags that
/// cannot be read are left out (they only describe the file).
fn first_ifd_properties(decoder: &mut TiffDecoder) -> BTreeMap<String, String> {
    let mut properties = BTreeMap::new();
    for (code, name) in TEXT_TAGS.into_iter().chain([COPYRIGHT_TAG]) {
        let text = decoder
            .find_tag(Tag::from_u16_exhaustive(code))
            .ok()
            .flatten()
            .and_then(|v| v.into_string().ok())
            .map(|t| t.trim_end_matches('\0').to_string())
            .filter(|t| !t.trim().is_empty());
        if let Some(text) = text {
            properties.insert(name.to_string(), text);
        }
    }
    if let Ok(Some(unit)) = decoder.find_tag_unsigned::<u16>(Tag::ResolutionUnit) {
        let unit = match unit {
            1 => "none",
            2 => "inch",
            3 => "centimeter",
            _ => "unknown",
        };
        properties.insert("tiff.ResolutionUnit".into(), unit.into());
    }
    for (tag, name) in [
        (Tag::XResolution, "tiff.XResolution"),
        (Tag::YResolution, "tiff.YResolution"),
    ] {
        if let Ok(value) = decoder.get_tag_f64(tag) {
            properties.insert(name.into(), value.to_string());
        }
    }
    properties
}

fn scan_ifds(path: &Path, decoder: &mut TiffDecoder) -> Result<Vec<IfdSummary>> {
    let bad =
        |e: tiff::TiffError| TilerError::bad_file(path, format!("unreadable TIFF directory: {e}"));
    let mut ifds = Vec::new();
    loop {
        let (width, height) = decoder.dimensions().map_err(bad)?;
        let tiled = decoder.find_tag(Tag::TileWidth).map_err(bad)?.is_some();
        let compression = decoder
            .find_tag_unsigned::<u16>(Tag::Compression)
            .map_err(bad)?
            .unwrap_or(1);
        let description = match decoder.find_tag(Tag::ImageDescription) {
            Ok(Some(value)) => value.into_string().unwrap_or_default(),
            _ => String::new(),
        };
        ifds.push(IfdSummary {
            index: ifds.len(),
            width,
            height,
            tiled,
            compression,
            description,
        });
        if !decoder.more_images() {
            break;
        }
        if ifds.len() >= MAX_IFDS {
            return Err(TilerError::bad_file(
                path,
                format!("more than {MAX_IFDS} TIFF directories"),
            ));
        }
        decoder.next_image().map_err(bad)?;
    }
    Ok(ifds)
}

fn read_level(
    path: &Path,
    decoder: &mut TiffDecoder,
    ifd: &IfdSummary,
    level: u32,
    file_len: u64,
) -> Result<TiffLevel> {
    let bad = |e: tiff::TiffError| {
        TilerError::bad_file(path, format!("TIFF directory {}: {e}", ifd.index))
    };
    decoder.seek_to_image(ifd.index).map_err(bad)?;
    let color = decoder
        .colortype()
        .map_err(|e| TilerError::unsupported(path, format!("TIFF directory {}: {e}", ifd.index)))?;
    let supported = matches!(
        color,
        ColorType::RGB(8 | 16)
            | ColorType::RGBA(8)
            | ColorType::Gray(8 | 16)
            | ColorType::GrayA(8)
            | ColorType::YCbCr(8)
    );
    if !supported {
        return Err(TilerError::unsupported(
            path,
            format!("TIFF pixel type {color:?}"),
        ));
    }
    if decoder
        .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
        .map_err(bad)?
        .unwrap_or(1)
        != 1
    {
        return Err(TilerError::unsupported(
            path,
            "planar (separate) TIFF sample layout",
        ));
    }
    let (chunk_width, chunk_height) = decoder.chunk_dimensions();
    let (offsets_tag, counts_tag) = if ifd.tiled {
        (Tag::TileOffsets, Tag::TileByteCounts)
    } else {
        (Tag::StripOffsets, Tag::StripByteCounts)
    };
    let offsets: Vec<u64> = decoder.get_tag_u64_vec(offsets_tag).map_err(bad)?;
    let counts: Vec<u64> = decoder.get_tag_u64_vec(counts_tag).map_err(bad)?;
    let chunks_across = ifd.width.div_ceil(chunk_width);
    let chunks_down = ifd.height.div_ceil(chunk_height);
    let expected = chunks_across as usize * chunks_down as usize;
    if offsets.len() < expected || counts.len() < expected {
        return Err(TilerError::bad_file(
            path,
            format!(
                "TIFF directory {} lists {} tiles, its size needs {expected}",
                ifd.index,
                offsets.len().min(counts.len())
            ),
        ));
    }
    for (i, (&offset, &count)) in offsets.iter().zip(&counts).take(expected).enumerate() {
        if offset.checked_add(count).is_none_or(|end| end > file_len) {
            let place = TilePlace {
                level,
                col: (i as u32) % chunks_across,
                row: (i as u32) / chunks_across,
            };
            return Err(TilerError::bad_tile(
                path,
                place,
                format!(
                    "TIFF directory {}: tile data at {offset}+{count} lies past the end of the {file_len}-byte file (truncated?)",
                    ifd.index
                ),
            ));
        }
    }
    let jpeg = if ifd.compression == 7 {
        let tables = match decoder.find_tag(Tag::JPEGTables).map_err(bad)? {
            Some(value) => Some(value.into_u8_vec().map_err(bad)?),
            None => None,
        };
        let photometric = decoder
            .find_tag_unsigned::<u16>(Tag::PhotometricInterpretation)
            .map_err(bad)?
            .unwrap_or(2);
        Some(JpegLevel {
            tables,
            ycbcr: photometric == 6,
        })
    } else {
        None
    };
    Ok(TiffLevel {
        ifd: ifd.index,
        width: ifd.width,
        height: ifd.height,
        chunk_width,
        chunk_height,
        chunks_across,
        color,
        offsets: offsets[..expected].to_vec(),
        byte_counts: counts[..expected].to_vec(),
        jpeg,
    })
}

fn to_rgb(decoded: DecodingResult, color: ColorType) -> Option<Vec<u8>> {
    let high_bytes = |v: Vec<u16>| v.into_iter().map(|s| (s >> 8) as u8).collect::<Vec<u8>>();
    Some(match (decoded, color) {
        (DecodingResult::U8(v), ColorType::RGB(8)) => v,
        (DecodingResult::U8(mut v), ColorType::YCbCr(8)) => {
            pixels::ycbcr_to_rgb_in_place(&mut v);
            v
        }
        (DecodingResult::U8(v), ColorType::RGBA(8)) => pixels::rgba_to_rgb(&v),
        (DecodingResult::U8(v), ColorType::Gray(8)) => pixels::gray_to_rgb(&v),
        (DecodingResult::U8(v), ColorType::GrayA(8)) => pixels::gray_alpha_to_rgb(&v),
        (DecodingResult::U16(v), ColorType::RGB(16)) => high_bytes(v),
        (DecodingResult::U16(v), ColorType::Gray(16)) => pixels::gray_to_rgb(&high_bytes(v)),
        _ => return None,
    })
}

/// `MPP` and `AppMag` from an Aperio ImageDescription (`…|AppMag = 20|MPP = 0.4990|…`).
fn aperio_fields(description: &str) -> (Option<f64>, Option<f64>) {
    let field = |name: &str| {
        description.split('|').find_map(|part| {
            let (key, value) = part.split_once('=')?;
            (key.trim() == name)
                .then(|| value.trim().parse::<f64>().ok())
                .flatten()
                .filter(|v| v.is_finite() && *v > 0.0)
        })
    };
    (field("MPP"), field("AppMag"))
}

/// Microns per pixel from XResolution when the unit is centimetres. Inch-based values
/// are nearly always a 72-dpi default and say nothing about the specimen.
fn resolution_mpp(decoder: &mut TiffDecoder) -> Option<f64> {
    let unit = decoder
        .find_tag_unsigned::<u16>(Tag::ResolutionUnit)
        .ok()??;
    if unit != 3 {
        return None;
    }
    let res = decoder.get_tag_f64(Tag::XResolution).ok()?;
    let mpp = 10_000.0 / res;
    (mpp.is_finite() && (0.01..100.0).contains(&mpp)).then_some(mpp)
}

#[cfg(test)]
mod tests {
    #[test]
    fn aperio_description_fields() {
        let d = "Aperio Image Library v10.0.51\r\n46920x33014 [0,100 46000x32914] (256x256) JPEG/RGB Q=30|AppMag = 20|StripeWidth = 2040|MPP = 0.4990|Filename = CMU-1";
        assert_eq!(super::aperio_fields(d), (Some(0.499), Some(20.0)));
        assert_eq!(super::aperio_fields("Aperio x|MPP = nan"), (None, None));
    }
}
