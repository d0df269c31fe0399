//! Looking inside values: dates, times and ids in text, and the `key = value` fields that
//! free-text properties (TIFF ImageDescription, OpenSlide's comment) embed.

/// What a value looks like, when it looks like something that identifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Looks {
    /// `12/29/09`, `2009-12-29`, `29.12.2009`, `09:59:15`.
    DateOrTime,
    /// `b414003d-95c6-48b0-9369-8010ed517ba7`, `1.2.840.10008.5.1.4`.
    UniqueId,
}

/// Whether `text` contains a date, a time, a UUID or a dotted OID-style UID.
pub(crate) fn looks(text: &str) -> Option<Looks> {
    let runs = digit_runs(text);
    if has_date(&runs) || has_time(&runs) {
        return Some(Looks::DateOrTime);
    }
    (has_uuid(text) || has_dotted_uid(&runs)).then_some(Looks::UniqueId)
}

/// Longest run of ASCII digits in `text`.
pub(crate) fn longest_digit_run(text: &str) -> usize {
    digit_runs(text).iter().map(|r| r.len).max().unwrap_or(0)
}

/// Whether `text` holds a hexadecimal token of at least `min` characters with both digits
/// and letters (hashes, UUID parts, device ids).
pub(crate) fn has_hex_token(text: &str, min: usize) -> bool {
    text.split(|c: char| !c.is_ascii_hexdigit()).any(|t| {
        t.len() >= min
            && t.bytes().any(|b| b.is_ascii_digit())
            && t.bytes().any(|b| b.is_ascii_alphabetic())
    })
}

/// A maximal run of digits, and the one byte between it and the run before, if exactly one
/// byte separates them.
#[derive(Debug, Clone, Copy)]
struct Run {
    len: usize,
    /// The number, saturating (only short runs' values matter).
    value: u64,
    joined_by: Option<u8>,
}

fn digit_runs(text: &str) -> Vec<Run> {
    let bytes = text.as_bytes();
    let mut runs = Vec::new();
    let mut previous_end: Option<usize> = None;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            runs.push(Run {
                len: i - start,
                value: text[start..i].bytes().fold(0u64, |n, b| {
                    n.saturating_mul(10).saturating_add(u64::from(b - b'0'))
                }),
                joined_by: previous_end
                    .filter(|&end| end + 1 == start)
                    .map(|end| bytes[end]),
            });
            previous_end = Some(i);
        } else {
            i += 1;
        }
    }
    runs
}

/// Three digit groups joined by the same separator, shaped like a plausible date:
/// `m/d/yy`, `d/m/yyyy`, `yyyy-mm-dd`, `dd.mm.yyyy` (dots only with a four-digit year,
/// so versions like `12.0.15` are not dates); months up to 12, days up to 31, four-digit
/// years 1900-2100.
fn has_date(runs: &[Run]) -> bool {
    runs.windows(3).any(|w| {
        let (Some(s1), Some(s2)) = (w[1].joined_by, w[2].joined_by) else {
            return false;
        };
        let day_month = |a: Run, b: Run| {
            (1..=2).contains(&a.len)
                && (1..=2).contains(&b.len)
                && (1..=31).contains(&a.value)
                && (1..=31).contains(&b.value)
                && (a.value <= 12 || b.value <= 12)
        };
        let year = |y: Run| y.len == 2 || (y.len == 4 && (1900..=2100).contains(&y.value));
        let year_first = year(w[0])
            && w[0].len == 4
            && (1..=2).contains(&w[1].len)
            && (1..=12).contains(&w[1].value)
            && (1..=2).contains(&w[2].len)
            && (1..=31).contains(&w[2].value);
        match (s1, s2) {
            (b'/', b'/') | (b'-', b'-') => (day_month(w[0], w[1]) && year(w[2])) || year_first,
            (b'.', b'.') => day_month(w[0], w[1]) && w[2].len == 4 && year(w[2]),
            _ => false,
        }
    })
}

/// `h:mm` or `hh:mm[:ss]`.
fn has_time(runs: &[Run]) -> bool {
    runs.windows(2)
        .any(|w| w[1].joined_by == Some(b':') && (1..=2).contains(&w[0].len) && w[1].len == 2)
}

/// Five or more dot-separated numbers: a DICOM-style UID (`1.2.840.10008…`).
fn has_dotted_uid(runs: &[Run]) -> bool {
    let mut chain = 1;
    for run in runs.iter().skip(1) {
        chain = if run.joined_by == Some(b'.') {
            chain + 1
        } else {
            1
        };
        if chain >= 5 {
            return true;
        }
    }
    false
}

/// Hex groups of 8-4-4-4-12.
fn has_uuid(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .any(|token| {
            let groups: Vec<usize> = token.split('-').map(str::len).collect();
            groups.windows(5).any(|w| w == [8, 4, 4, 4, 12])
        })
}
