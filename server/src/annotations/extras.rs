//! Compact in-memory form of the `extra` properties of a record body.
//!
//! Cells from one model share their property names (`"measurements":{"Nucleus: Area
//! µm^2":…,…}`) and differ only in the numbers, so the text is split into a skeleton,
//! interned once per slide, and the numbers, kept as short ASCII runs. A typical cell's
//! extras shrink from ≈ 140 bytes to ≈ 30. Bodies stored in SQLite keep plain text.

use super::codec::{Corrupt, Reader, put_varint};
use foldhash::HashMap;

/// Stands for a number in a skeleton (a NUL cannot occur in JSON text).
const HOLE: u8 = 0;
/// Body tail tags.
const PLAIN: u8 = 0;
const SPLIT: u8 = 1;

/// The skeletons of one slide's extras.
#[derive(Debug, Default)]
pub struct Skeletons {
    /// Each skeleton as its literal parts; a number goes between consecutive parts.
    list: Vec<Vec<Vec<u8>>>,
    numbers: HashMap<Vec<u8>, u32>,
    /// The skeleton last compacted and its number: cells in a row mostly share one.
    last: Option<(Vec<u8>, u32)>,
    /// Reused by [`Skeletons::compact_into`]: a body's skeleton and its numbers' places.
    skeleton: Vec<u8>,
    runs: Vec<(usize, usize)>,
}

/// Splits JSON text into its skeleton and the places of its number tokens (outside
/// strings); `false` if a token is too long to keep as a run.
fn split(text: &[u8], skeleton: &mut Vec<u8>, runs: &mut Vec<(usize, usize)>) -> bool {
    skeleton.clear();
    runs.clear();
    let mut i = 0;
    while i < text.len() {
        let b = text[i];
        if b == b'"' {
            let start = i;
            i += 1;
            // To the closing quote, past escapes; an unclosed string runs to the end.
            loop {
                match memchr::memchr2(b'"', b'\\', text.get(i..).unwrap_or_default()) {
                    Some(at) if text[i + at] == b'"' => {
                        i += at;
                        break;
                    }
                    Some(at) => i += at + 2,
                    None => {
                        i = text.len();
                        break;
                    }
                }
            }
            i = (i + 1).min(text.len());
            skeleton.extend_from_slice(&text[start..i]);
        } else if b == b'-' || b.is_ascii_digit() {
            let start = i;
            while i < text.len()
                && matches!(text[i], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
            {
                i += 1;
            }
            if i - start > 255 {
                return false;
            }
            runs.push((start, i));
            skeleton.push(HOLE);
        } else {
            skeleton.push(b);
            i += 1;
        }
    }
    true
}

impl Skeletons {
    /// Appends `body` to `arena` with its extras (starting at `extra_at`) in compact form.
    pub fn compact_into(
        &mut self,
        body: &[u8],
        extra_at: usize,
        arena: &mut Vec<u8>,
    ) -> Result<(), Corrupt> {
        let mut r = Reader::new(&body[extra_at..]);
        let n = r.count()?;
        let text = r.take(n)?;
        arena.extend_from_slice(&body[..extra_at]);
        if n == 0 || !split(text, &mut self.skeleton, &mut self.runs) {
            arena.push(PLAIN);
            arena.extend_from_slice(&body[extra_at..]);
            return Ok(());
        }
        let id = match &self.last {
            Some((skeleton, id)) if *skeleton == self.skeleton => *id,
            _ => {
                let next = self.list.len() as u32;
                let id = *self
                    .numbers
                    .entry(self.skeleton.clone())
                    .or_insert_with_key(|k| {
                        self.list
                            .push(k.split(|&b| b == HOLE).map(<[u8]>::to_vec).collect());
                        next
                    });
                self.last = Some((self.skeleton.clone(), id));
                id
            }
        };
        arena.push(SPLIT);
        put_varint(arena, u64::from(id));
        for &(from, to) in &self.runs {
            arena.push((to - from) as u8);
            arena.extend_from_slice(&text[from..to]);
        }
        Ok(())
    }

    /// Reads compact extras (what [`Skeletons::compact_into`] wrote after the prefix)
    /// back into their JSON text.
    pub fn read(&self, r: &mut Reader<'_>) -> Result<String, Corrupt> {
        let at = r.position();
        let mut text = Vec::new();
        self.write_into(r, &mut text)?;
        String::from_utf8(text).map_err(|_| Corrupt(at))
    }

    /// Appends the JSON text of compact extras to `out`; returns its length.
    pub fn write_into(&self, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Result<usize, Corrupt> {
        let at = r.position();
        let start = out.len();
        match r.byte()? {
            PLAIN => {
                let n = r.count()?;
                out.extend_from_slice(r.take(n)?);
            }
            SPLIT => {
                let id = r.varint()? as usize;
                let parts = self.list.get(id).ok_or(Corrupt(at))?;
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        let len = usize::from(r.byte()?);
                        out.extend_from_slice(r.take(len)?);
                    }
                    out.extend_from_slice(part);
                }
            }
            _ => return Err(Corrupt(at)),
        }
        Ok(out.len() - start)
    }

    /// Heap bytes held.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.list
            .iter()
            .map(|parts| parts.iter().map(|p| 2 * p.len() + 24).sum::<usize>() + 64)
            .sum()
    }
}

/// The JSON text of member `key` of `extra` (`"k":v,…`, an object's members without
/// braces).
#[must_use]
pub fn member(extra: &str, key: &str) -> Option<String> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&format!("{{{extra}}}")).ok()?;
    map.get(key).map(ToString::to_string)
}

/// `extra` without member `key` (unchanged when it has none).
#[must_use]
pub fn without_member(extra: &str, key: &str) -> String {
    if !extra.contains(&format!("\"{key}\"")) {
        return extra.to_string();
    }
    let Ok(mut map) =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&format!("{{{extra}}}"))
    else {
        return extra.to_string();
    };
    map.shift_remove(key);
    let text = serde_json::Value::Object(map).to_string();
    text[1..text.len() - 1].to_string()
}

/// Appends member `key` with the JSON text `value`.
pub fn push_member(extra: &mut String, key: &str, value: &str) {
    if !extra.is_empty() {
        extra.push(',');
    }
    extra.push_str(&serde_json::Value::String(key.to_string()).to_string());
    extra.push(':');
    extra.push_str(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extras_round_trip_through_skeletons() {
        let mut sk = Skeletons::default();
        for extra in [
            r#""measurements":{"Area µm^2":12.5,"x-1":-3e-4},"metadata":{"a":"b 1"}"#,
            r#""measurements":{"Area µm^2":7,"x-1":0.25},"metadata":{"a":"b 1"}"#,
            "",
            r#""note":"quote \" and 5""#,
        ] {
            let mut body = vec![9, 9, 9];
            put_varint(&mut body, extra.len() as u64);
            body.extend_from_slice(extra.as_bytes());
            let mut arena = Vec::new();
            sk.compact_into(&body, 3, &mut arena).ok();
            let mut r = Reader::new(&arena[3..]);
            assert_eq!(sk.read(&mut r).ok().as_deref(), Some(extra));
            assert!(r.is_empty());
        }
        assert_eq!(
            sk.list.len(),
            2,
            "the two measurement extras share one skeleton"
        );
    }
}

#[cfg(test)]
mod member_tests {
    #[test]
    fn members_are_found_removed_and_added() {
        let extra = r#""a":1,"model":{"name":"m","version":"1"},"b":[2]"#;
        assert_eq!(
            super::member(extra, "model").as_deref(),
            Some(r#"{"name":"m","version":"1"}"#)
        );
        let mut rest = super::without_member(extra, "model");
        assert_eq!(rest, r#""a":1,"b":[2]"#);
        assert_eq!(super::without_member(&rest, "model"), rest);
        super::push_member(&mut rest, "model", "7");
        assert_eq!(rest, r#""a":1,"b":[2],"model":7"#);
        let mut empty = String::new();
        super::push_member(&mut empty, "k", "null");
        assert_eq!(empty, r#""k":null"#);
    }
}
