//! One annotation and its compact record form.

use super::codec::{Corrupt, Reader, decode_geometry, encode_geometry, put_varint};
use super::geometry::Geometry;
use uuid::Uuid;

macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        #[repr(u8)]
        pub enum $name {
            #[default]
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            #[must_use]
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }

            pub(crate) fn from_byte(b: u8) -> Option<Self> {
                Self::ALL.get(usize::from(b)).copied()
            }

            /// The accepted spellings, for error messages.
            #[must_use]
            pub fn choices() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }
    };
}

named_enum!(
    /// Who made an annotation: a person, a model, or a model then corrected by a person.
    Provenance { Human = "human", Model = "model", ModelEdited = "model-edited" }
);
named_enum!(
    /// Review status; every annotation starts as a draft.
    Status {
        Draft = "draft",
        Submitted = "submitted",
        Reviewed = "reviewed",
        Approved = "approved",
        Rejected = "rejected",
    }
);
named_enum!(
    /// QuPath's object types.
    ObjectType {
        Annotation = "annotation",
        Detection = "detection",
        Cell = "cell",
        Tile = "tile",
        TmaCore = "tma_core",
    }
);
named_enum!(
    /// What a polygon was drawn as, so the viewer can edit it as that shape.
    ShapeHint { None = "", Rectangle = "rectangle", Ellipse = "ellipse" }
);

/// One annotation, as the engine stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub id: Uuid,
    pub layer: String,
    /// Classification name.
    pub class: String,
    /// Classification colour; `None` takes the class's default colour on output.
    pub color: Option<[u8; 3]>,
    pub geometry: Geometry,
    /// A cell's nucleus outline (QuPath's `nucleusGeometry`).
    pub nucleus: Option<Geometry>,
    pub object_type: ObjectType,
    pub shape: ShapeHint,
    pub name: Option<String>,
    pub is_locked: bool,
    pub author: String,
    pub provenance: Provenance,
    pub status: Status,
    pub confidence: Option<f32>,
    /// Other properties, verbatim: the members of a JSON object without its braces
    /// (`"measurements":{…},"metadata":{…}`), or empty.
    pub extra: String,
    pub version: u32,
    /// Milliseconds since the Unix epoch.
    pub created_ms: i64,
    pub updated_ms: i64,
}

const RECORD_FORMAT: u8 = 1;
const LOCKED: u8 = 1;
const HAS_COLOR: u8 = 2;
const HAS_CONFIDENCE: u8 = 4;
const HAS_NAME: u8 = 8;
const HAS_NUCLEUS: u8 = 16;

/// Colour of a class that came without one: a stable pick from its name.
#[must_use]
pub fn default_color(class: &str) -> [u8; 3] {
    const PALETTE: [[u8; 3]; 8] = [
        [230, 25, 75],
        [60, 180, 75],
        [0, 130, 200],
        [245, 130, 48],
        [145, 30, 180],
        [70, 240, 240],
        [240, 50, 230],
        [128, 128, 0],
    ];
    let h = class
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    PALETTE[h as usize % PALETTE.len()]
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn get_str(r: &mut Reader<'_>) -> Result<String, Corrupt> {
    let n = r.count()?;
    let bytes = r.take(n)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| Corrupt(0))
}

/// The fields at the start of a record body, before its geometry: read without decoding
/// the rest, so a feature can be written straight from its record.
#[derive(Debug, Clone, Copy)]
pub struct BodyHead<'a> {
    pub object_type: ObjectType,
    pub shape: ShapeHint,
    pub provenance: Provenance,
    pub is_locked: bool,
    /// Whether a nucleus geometry follows the geometry.
    pub has_nucleus: bool,
    pub color: Option<[u8; 3]>,
    pub confidence: Option<f32>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub name: Option<&'a str>,
}

impl<'a> BodyHead<'a> {
    /// Reads the head; the reader returned is positioned at the geometry.
    pub fn read(body: &'a [u8]) -> Result<(Self, Reader<'a>), Corrupt> {
        let mut r = Reader::new(body);
        if r.byte()? != RECORD_FORMAT {
            return Err(Corrupt(0));
        }
        let object_type = ObjectType::from_byte(r.byte()?).ok_or(Corrupt(1))?;
        let shape = ShapeHint::from_byte(r.byte()?).ok_or(Corrupt(2))?;
        let provenance = Provenance::from_byte(r.byte()?).ok_or(Corrupt(3))?;
        let flags = r.byte()?;
        let color = if flags & HAS_COLOR != 0 {
            let c = r.take(3)?;
            Some([c[0], c[1], c[2]])
        } else {
            None
        };
        let confidence = if flags & HAS_CONFIDENCE != 0 {
            let b = r.take(4)?;
            Some(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        } else {
            None
        };
        let created_ms = r.varint()? as i64;
        let updated_ms = r.varint()? as i64;
        let name = if flags & HAS_NAME != 0 {
            let at = r.position();
            let n = r.count()?;
            Some(std::str::from_utf8(r.take(n)?).map_err(|_| Corrupt(at))?)
        } else {
            None
        };
        let head = Self {
            object_type,
            shape,
            provenance,
            is_locked: flags & LOCKED != 0,
            has_nucleus: flags & HAS_NUCLEUS != 0,
            color,
            confidence,
            created_ms,
            updated_ms,
            name,
        };
        Ok((head, r))
    }
}

impl Annotation {
    #[must_use]
    pub fn color_or_default(&self) -> [u8; 3] {
        self.color.unwrap_or_else(|| default_color(&self.class))
    }

    /// The record body: everything but id, layer, class, author, status and version,
    /// which the store keeps in columns of their own.
    #[must_use]
    pub fn encode_body(&self) -> Vec<u8> {
        self.encode_body_and_extra_offset().0
    }

    /// [`Annotation::encode_body`], and where its `extra` starts ([`Annotation::extra_offset`]).
    #[must_use]
    pub fn encode_body_and_extra_offset(&self) -> (Vec<u8>, usize) {
        // Room for the usual: a vertex takes about 4 bytes (two short varint deltas).
        let vertices =
            self.geometry.vertex_count() + self.nucleus.as_ref().map_or(0, Geometry::vertex_count);
        let texts = self.name.as_ref().map_or(0, String::len) + self.extra.len();
        let mut out = Vec::with_capacity(48 + 5 * vertices + texts);
        out.push(RECORD_FORMAT);
        out.push(self.object_type as u8);
        out.push(self.shape as u8);
        out.push(self.provenance as u8);
        let mut flags = 0;
        for (on, bit) in [
            (self.is_locked, LOCKED),
            (self.color.is_some(), HAS_COLOR),
            (self.confidence.is_some(), HAS_CONFIDENCE),
            (self.name.is_some(), HAS_NAME),
            (self.nucleus.is_some(), HAS_NUCLEUS),
        ] {
            if on {
                flags |= bit;
            }
        }
        out.push(flags);
        if let Some(c) = self.color {
            out.extend_from_slice(&c);
        }
        if let Some(c) = self.confidence {
            out.extend_from_slice(&c.to_le_bytes());
        }
        put_varint(&mut out, self.created_ms as u64);
        put_varint(&mut out, self.updated_ms as u64);
        if let Some(n) = &self.name {
            put_str(&mut out, n);
        }
        encode_geometry(&self.geometry, &mut out);
        if let Some(n) = &self.nucleus {
            encode_geometry(n, &mut out);
        }
        let extra_at = out.len();
        put_str(&mut out, &self.extra);
        (out, extra_at)
    }

    /// Rebuilds an annotation from its columns and record body.
    pub fn decode(columns: Columns, body: &[u8]) -> Result<Self, Corrupt> {
        Self::decode_with(columns, body, get_str)
    }

    /// Like [`Annotation::decode`], with `extra` reading the body's last field (the
    /// in-memory index keeps it in a compact form of its own).
    pub fn decode_with(
        columns: Columns,
        body: &[u8],
        extra: impl FnOnce(&mut Reader<'_>) -> Result<String, Corrupt>,
    ) -> Result<Self, Corrupt> {
        let (head, mut r) = BodyHead::read(body)?;
        let geometry = decode_geometry(&mut r)?;
        let nucleus = if head.has_nucleus {
            Some(decode_geometry(&mut r)?)
        } else {
            None
        };
        let extra = extra(&mut r)?;
        Ok(Self {
            id: columns.id,
            layer: columns.layer,
            class: columns.class,
            color: head.color,
            geometry,
            nucleus,
            object_type: head.object_type,
            shape: head.shape,
            name: head.name.map(str::to_string),
            is_locked: head.is_locked,
            author: columns.author,
            provenance: head.provenance,
            status: columns.status,
            confidence: head.confidence,
            extra,
            version: columns.version,
            created_ms: head.created_ms,
            updated_ms: head.updated_ms,
        })
    }

    /// The classification colour stored in a record body, if any.
    #[must_use]
    pub fn color_in_body(body: &[u8]) -> Option<[u8; 3]> {
        match body {
            [RECORD_FORMAT, _, _, _, flags, r, g, b, ..] if flags & HAS_COLOR != 0 => {
                Some([*r, *g, *b])
            }
            _ => None,
        }
    }

    /// Where the `extra` string (its length varint) starts in a record body: it is last.
    pub fn extra_offset(body: &[u8]) -> Result<usize, Corrupt> {
        let (head, mut r) = BodyHead::read(body)?;
        crate::annotations::codec::skip_geometry(&mut r)?;
        if head.has_nucleus {
            crate::annotations::codec::skip_geometry(&mut r)?;
        }
        Ok(r.position())
    }

    /// Only the geometry of a record body, without decoding the rest.
    pub fn decode_geometry_only(body: &[u8]) -> Result<Geometry, Corrupt> {
        decode_geometry(&mut BodyHead::read(body)?.1)
    }

    /// The fields kept outside the record body.
    #[must_use]
    pub fn columns(&self) -> Columns {
        Columns {
            id: self.id,
            layer: self.layer.clone(),
            class: self.class.clone(),
            author: self.author.clone(),
            status: self.status,
            version: self.version,
        }
    }
}

impl Annotation {
    /// Columns and body in one blob, for history.
    #[must_use]
    pub fn encode_full(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160);
        for s in [&self.layer, &self.class, &self.author] {
            put_str(&mut out, s);
        }
        out.push(self.status as u8);
        put_varint(&mut out, u64::from(self.version));
        out.extend_from_slice(&self.encode_body());
        out
    }

    /// Reads what [`Annotation::encode_full`] wrote.
    pub fn decode_full(id: Uuid, bytes: &[u8]) -> Result<Self, Corrupt> {
        let mut r = Reader::new(bytes);
        let layer = get_str(&mut r)?;
        let class = get_str(&mut r)?;
        let author = get_str(&mut r)?;
        let status = Status::from_byte(r.byte()?).ok_or(Corrupt(0))?;
        let version = u32::try_from(r.varint()?).map_err(|_| Corrupt(0))?;
        let rest = r.take(bytes.len() - r.position())?;
        let columns = Columns {
            id,
            layer,
            class,
            author,
            status,
            version,
        };
        Self::decode(columns, rest)
    }
}

/// The fields of an annotation that live outside its record body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    pub id: Uuid,
    pub layer: String,
    pub class: String,
    pub author: String,
    pub status: Status,
    pub version: u32,
}

/// Milliseconds since the Unix epoch, now.
#[must_use]
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> Annotation {
        Annotation {
            id: Uuid::from_u128(7),
            layer: "cells".into(),
            class: "Tumor".into(),
            color: Some([1, 2, 3]),
            geometry: Geometry::Polygon(vec![vec![[0, 0], [100, 0], [0, 100]]]),
            nucleus: Some(Geometry::Point([5, 5])),
            object_type: ObjectType::Cell,
            shape: ShapeHint::Ellipse,
            name: Some("n".into()),
            is_locked: true,
            author: "ana".into(),
            provenance: Provenance::ModelEdited,
            status: Status::Reviewed,
            confidence: Some(0.5),
            extra: r#""measurements":{"a":1}"#.into(),
            version: 3,
            created_ms: 1_700_000_000_000,
            updated_ms: 1_700_000_000_500,
        }
    }

    #[test]
    fn record_round_trips() {
        let a = sample();
        let back = Annotation::decode(a.columns(), &a.encode_body()).ok();
        assert_eq!(back.as_ref(), Some(&a));
        assert_eq!(
            Annotation::decode_full(a.id, &a.encode_full()).ok(),
            Some(a)
        );
    }
}
