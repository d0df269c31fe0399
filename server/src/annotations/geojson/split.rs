//! Splitting a GeoJSON stream into its features without parsing them, so they can be
//! parsed in parallel and the file never has to fit in memory.
//!
//! Accepts every shape QuPath writes or reads: a FeatureCollection (its `features` array
//! is streamed; other members may come before or after it), a bare array of Features, a
//! single Feature, or a bare Geometry. Only the envelope is checked here; each item is
//! validated by the parser, which knows its line and column in the file.

use memchr::{memchr_iter, memchr2, memchr3, memrchr};
use std::io::Read;

/// Bytes read from the input at a time.
const READ_CHUNK: usize = 4 << 20;

/// A syntax error in the envelope, with its place in the file (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {reason}")]
pub struct EnvelopeError {
    pub line: u64,
    pub column: u64,
    pub reason: String,
}

/// Why the stream could not be split.
#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("{0}")]
    Syntax(#[from] EnvelopeError),
    #[error("reading the input: {0}")]
    Io(#[from] std::io::Error),
    #[error("a single feature is larger than the limit of {0} MiB")]
    TooLarge(usize),
}

/// One item: a Feature or a Geometry object, with where it starts in the file.
#[derive(Debug, Clone)]
pub struct ItemPlace {
    /// 0-based position among the file's features.
    pub index: usize,
    pub line: u64,
    pub column: u64,
    pub range: std::ops::Range<usize>,
}

/// Items that were read together; their bytes are in `bytes`.
#[derive(Debug, Default)]
pub struct Batch {
    pub bytes: Vec<u8>,
    pub items: Vec<ItemPlace>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    /// Scanning the members of the top-level object.
    TopMembers {
        first: bool,
    },
    /// Inside an array of features (`top` tells whether it is the whole file).
    Items {
        first: bool,
        top: bool,
    },
    Done,
}

/// Input read and not yet consumed: the first `len` bytes of `bytes`, which is zeroed
/// as it grows and then read into again and again (a stream hands over small chunks;
/// zeroing room for each, or reading through a second buffer, cost more than the data).
#[derive(Debug, Default)]
struct Filled {
    bytes: Vec<u8>,
    len: usize,
}

impl Filled {
    /// Room after the bytes held, at least `want` bytes of it.
    fn room(&mut self, want: usize) -> &mut [u8] {
        if self.bytes.len() - self.len < want {
            self.bytes.resize(self.len + want, 0);
        }
        &mut self.bytes[self.len..]
    }

    /// Counts `n` bytes read into [`Filled::room`] as held.
    fn filled(&mut self, n: usize) {
        self.len += n;
    }

    /// Drops the first `n` bytes held.
    fn drop_front(&mut self, n: usize) {
        self.bytes.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

impl std::ops::Deref for Filled {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Streams items out of a reader.
#[derive(Debug)]
pub struct Splitter<R> {
    input: R,
    buf: Filled,
    /// Start of unconsumed bytes in `buf`.
    pos: usize,
    eof: bool,
    /// Line number at `counted` (1-based) and how far newlines have been counted.
    line: u64,
    counted: usize,
    /// Byte offset of the start of `buf` within the file's current line (for columns).
    line_start: Option<usize>,
    carried_column: u64,
    state: State,
    next_index: usize,
    /// Members of the top-level object other than `features`, raw.
    members: Vec<(String, Vec<u8>)>,
    saw_features: bool,
    max_item: usize,
}

impl<R: Read> Splitter<R> {
    /// `max_item` bounds one item's size in bytes.
    pub fn new(input: R, max_item: usize) -> Self {
        Self {
            input,
            buf: Filled::default(),
            pos: 0,
            eof: false,
            line: 1,
            counted: 0,
            line_start: Some(0),
            carried_column: 0,
            state: State::Start,
            next_index: 0,
            members: Vec::new(),
            saw_features: false,
            max_item,
        }
    }

    /// Reads more input, dropping consumed bytes. False at end of input.
    fn fill(&mut self) -> Result<bool, SplitError> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.advance_lines(self.pos);
            // Keep the column bookkeeping valid across the shift.
            self.carried_column = self.column_at(self.pos) - 1;
            self.line_start = None;
            self.buf.drop_front(self.pos);
            self.counted -= self.pos;
            self.pos = 0;
        }
        if self.buf.len() > self.max_item {
            return Err(SplitError::TooLarge(self.max_item >> 20));
        }
        // Gather at least a quarter chunk, so big features are not rescanned per packet.
        let room = self.buf.room(READ_CHUNK);
        let mut n = 0;
        while n < READ_CHUNK / 4 {
            match self.input.read(&mut room[n..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.buf.filled(n);
        Ok(n > 0)
    }

    fn advance_lines(&mut self, to: usize) {
        if to > self.counted {
            let chunk = &self.buf[self.counted..to];
            let newlines = memchr_iter(b'\n', chunk).count();
            if newlines > 0 {
                self.line += newlines as u64;
                if let Some(last) = memrchr(b'\n', chunk) {
                    self.line_start = Some(self.counted + last + 1);
                    self.carried_column = 0;
                }
            }
            self.counted = to;
        }
    }

    /// 1-based column of byte `at` (which must be ≥ `counted`'s line start).
    fn column_at(&self, at: usize) -> u64 {
        match self.line_start {
            Some(s) => at.saturating_sub(s) as u64 + 1,
            None => self.carried_column + at as u64 + 1,
        }
    }

    fn place(&mut self, at: usize) -> (u64, u64) {
        self.advance_lines(at);
        (self.line, self.column_at(at))
    }

    fn error(&mut self, at: usize, reason: impl Into<String>) -> SplitError {
        let (line, column) = self.place(at);
        EnvelopeError {
            line,
            column,
            reason: reason.into(),
        }
        .into()
    }

    /// Skips whitespace (and a byte-order mark at the start); returns the next byte.
    fn peek(&mut self) -> Result<Option<u8>, SplitError> {
        loop {
            while self.pos < self.buf.len() {
                match self.buf[self.pos] {
                    b' ' | b'\t' | b'\n' | b'\r' => self.pos += 1,
                    0xEF if self.state == State::Start
                        && self.buf[self.pos..].starts_with(b"\xEF\xBB\xBF") =>
                    {
                        self.pos += 3;
                    }
                    b => return Ok(Some(b)),
                }
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// End of the JSON value starting at `self.pos`, reading more input as needed.
    fn value_end(&mut self) -> Result<usize, SplitError> {
        loop {
            match scan_value(&self.buf, self.pos) {
                Ok(Some(end)) => return Ok(end),
                Ok(None) => {
                    if !self.fill()? {
                        return Err(self.error(self.buf.len(), "unexpected end of input"));
                    }
                }
                Err(at) => return Err(self.error(at, "unexpected character")),
            }
        }
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), SplitError> {
        match self.peek()? {
            Some(b) if b == byte => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(self.error(self.pos, format!("expected {what}"))),
            None => Err(self.error(
                self.buf.len(),
                format!("expected {what}, found end of input"),
            )),
        }
    }

    /// The next batch of about `target` bytes of items; `None` at the end.
    pub fn next_batch(&mut self, target: usize) -> Result<Option<Batch>, SplitError> {
        self.next_batch_in(target, Batch::default())
    }

    /// [`Splitter::next_batch`] into a batch whose buffers are reused (emptied first):
    /// no growing, copying and page-faulting in of a new buffer per batch.
    pub fn next_batch_in(
        &mut self,
        target: usize,
        mut batch: Batch,
    ) -> Result<Option<Batch>, SplitError> {
        batch.bytes.clear();
        batch.items.clear();
        while batch.bytes.len() < target {
            if !self.next_item(&mut batch)? {
                break;
            }
        }
        Ok((!batch.items.is_empty()).then_some(batch))
    }

    /// Adds the next item to `batch`; false when there are no more.
    fn next_item(&mut self, batch: &mut Batch) -> Result<bool, SplitError> {
        loop {
            match self.state {
                State::Done => return Ok(false),
                State::Start => match self.peek()? {
                    Some(b'[') => {
                        self.pos += 1;
                        self.state = State::Items {
                            first: true,
                            top: true,
                        };
                    }
                    Some(b'{') => {
                        self.pos += 1;
                        self.state = State::TopMembers { first: true };
                    }
                    Some(_) => {
                        return Err(self.error(self.pos, "expected a GeoJSON object or array"));
                    }
                    None => return Err(self.error(self.pos, "the input is empty")),
                },
                State::TopMembers { first } => {
                    if self.peek()? == Some(b'}') {
                        self.pos += 1;
                        self.finish_top()?;
                        if !self.saw_features {
                            // The whole object was one Feature or Geometry.
                            self.push_rebuilt_top(batch);
                            self.state = State::Done;
                            return Ok(true);
                        }
                        self.state = State::Done;
                        continue;
                    }
                    if !first {
                        self.expect(b',', "',' or '}'")?;
                    }
                    if self.peek()? != Some(b'"') {
                        return Err(self.error(self.pos, "expected a member name"));
                    }
                    let end = self.value_end()?;
                    let key_raw = self.buf[self.pos..end].to_vec();
                    self.pos = end;
                    self.expect(b':', "':'")?;
                    self.state = State::TopMembers { first: false };
                    let key: String = serde_json::from_slice(&key_raw)
                        .map_err(|_| self.error(self.pos, "bad member name"))?;
                    self.peek()?;
                    if key == "features" && !self.saw_features && self.peek()? == Some(b'[') {
                        self.saw_features = true;
                        self.pos += 1;
                        self.state = State::Items {
                            first: true,
                            top: false,
                        };
                        continue;
                    }
                    let end = self.value_end()?;
                    let value = self.buf[self.pos..end].to_vec();
                    self.pos = end;
                    self.members.push((key, value));
                }
                State::Items { first, top } => {
                    if self.array_item(first, top, batch)? {
                        return Ok(true);
                    }
                }
            }
        }
    }

    /// Reads the next element of a features array into `batch`; false when the array
    /// ended instead (the state then says what comes next).
    fn array_item(
        &mut self,
        first: bool,
        top: bool,
        batch: &mut Batch,
    ) -> Result<bool, SplitError> {
        match self.peek()? {
            Some(b']') => {
                self.pos += 1;
                self.state = if top {
                    State::Done
                } else {
                    State::TopMembers { first: false }
                };
                return Ok(false);
            }
            None => {
                return Err(self.error(
                    self.buf.len(),
                    "unexpected end of input inside the features array",
                ));
            }
            Some(_) => {}
        }
        if !first {
            self.expect(b',', "',' or ']'")?;
        }
        self.state = State::Items { first: false, top };
        if self.peek()? != Some(b'{') {
            return Err(self.error(self.pos, "expected a Feature object"));
        }
        let end = self.value_end()?;
        let (line, column) = self.place(self.pos);
        let start = batch.bytes.len();
        batch.bytes.extend_from_slice(&self.buf[self.pos..end]);
        batch.items.push(ItemPlace {
            index: self.next_index,
            line,
            column,
            range: start..batch.bytes.len(),
        });
        self.next_index += 1;
        self.pos = end;
        Ok(true)
    }

    /// Checks what follows the top-level value and the collection's `type`.
    fn finish_top(&mut self) -> Result<(), SplitError> {
        if self.saw_features
            && let Some((_, v)) = self.members.iter().find(|(k, _)| k == "type")
            && v.as_slice() != b"\"FeatureCollection\""
        {
            return Err(self.error(
                self.pos,
                format!(
                    "an object with \"features\" must be a FeatureCollection, not {}",
                    String::from_utf8_lossy(v)
                ),
            ));
        }
        if self.peek()?.is_some() {
            return Err(self.error(self.pos, "unexpected content after the GeoJSON value"));
        }
        Ok(())
    }

    fn push_rebuilt_top(&mut self, batch: &mut Batch) {
        let mut bytes = vec![b'{'];
        for (i, (k, v)) in self.members.iter().enumerate() {
            if i > 0 {
                bytes.push(b',');
            }
            crate::annotations::geojson::write::push_str(&mut bytes, k);
            bytes.push(b':');
            bytes.extend_from_slice(v);
        }
        bytes.push(b'}');
        batch.items.push(ItemPlace {
            index: 0,
            line: 1,
            column: 1,
            range: 0..bytes.len(),
        });
        batch.bytes = bytes;
        self.next_index = 1;
    }

    /// How many items have been produced.
    #[must_use]
    pub fn items_seen(&self) -> usize {
        self.next_index
    }
}

/// End (exclusive) of the JSON value at `start`; `Ok(None)` if the buffer ends first;
/// `Err(at)` where a value cannot start. Objects and arrays are matched by depth only:
/// the parser checks the rest.
fn scan_value(buf: &[u8], start: usize) -> Result<Option<usize>, usize> {
    match buf.get(start) {
        None => Ok(None),
        Some(b'"') => Ok(string_end(buf, start + 1)),
        Some(b'{') => Ok(object_end(buf, start)),
        Some(b'[') => {
            let mut depth = 0usize;
            let mut i = start;
            loop {
                // Braces and brackets are counted together; strings skipped whole.
                let Some(off) = next_structural(&buf[i..]) else {
                    return Ok(None);
                };
                i += off;
                match buf[i] {
                    b'"' => match string_end(buf, i + 1) {
                        Some(end) => {
                            i = end;
                            continue;
                        }
                        None => return Ok(None),
                    },
                    b'{' | b'[' => depth += 1,
                    _ => {
                        depth -= 1;
                        if depth == 0 {
                            return Ok(Some(i + 1));
                        }
                    }
                }
                i += 1;
            }
        }
        Some(b'-' | b'0'..=b'9' | b't' | b'f' | b'n') => {
            let end = buf[start..]
                .iter()
                .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'));
            Ok(end.map(|e| start + e))
        }
        Some(_) => Err(start),
    }
}

/// End of the object at `start`, counting braces only: brackets cannot close an object
/// in valid JSON, and skipping them lets coordinates, most of a feature, pass in one SIMD
/// search. (Invalid nesting inside is left for the parser to report.)
fn object_end(buf: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = start;
    loop {
        i += memchr3(b'"', b'{', b'}', &buf[i..])?;
        match buf[i] {
            b'"' => {
                i = string_end(buf, i + 1)?;
                continue;
            }
            b'{' => depth += 1,
            _ => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
        }
        i += 1;
    }
}

/// Offset of the next `"`, `{`, `}`, `[` or `]`.
fn next_structural(s: &[u8]) -> Option<usize> {
    // Two SIMD searches beat one byte loop: coordinates are mostly digits and commas.
    let a = memchr3(b'"', b'{', b'}', s);
    let limit = a.unwrap_or(s.len());
    let b = memchr2(b'[', b']', &s[..limit]);
    b.or(a)
}

/// End (exclusive) of a string whose opening quote is just before `from`.
fn string_end(buf: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let off = memchr2(b'"', b'\\', &buf[from..])?;
        let at = from + off;
        if buf[at] == b'"' {
            return Some(at + 1);
        }
        from = at + 2;
        if from > buf.len() {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Result<Vec<(usize, u64, u64, String)>, SplitError> {
        let mut s = Splitter::new(text.as_bytes(), 1 << 20);
        let mut out = Vec::new();
        while let Some(batch) = s.next_batch(10)? {
            for it in batch.items {
                let t = String::from_utf8_lossy(&batch.bytes[it.range]).into_owned();
                out.push((it.index, it.line, it.column, t));
            }
        }
        Ok(out)
    }

    #[test]
    fn collection_array_feature_and_geometry_shapes() {
        let fc = "{\"type\":\"FeatureCollection\",\n \"features\":[{\"a\":\"}\"},\n  {\"b\":[1,{}]}],\"x\":1}";
        let items = split(fc).ok().unwrap_or_default();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1], (1, 3, 3, "{\"b\":[1,{}]}".to_string()));
        assert_eq!(
            split("[{\"a\":1} , {\"b\":2}]").map(|v| v.len()).ok(),
            Some(2)
        );
        let single = split("{\"type\":\"Feature\",\"geometry\":null}")
            .ok()
            .unwrap_or_default();
        assert_eq!(single.len(), 1);
        assert!(single[0].3.contains("\"geometry\":null"));
        let features_last = split("{\"features\":[{\"z\":1}],\"type\":\"FeatureCollection\"}");
        assert_eq!(features_last.map(|v| v.len()).ok(), Some(1));
    }

    #[test]
    fn envelope_errors_name_line_and_column() {
        let err = split("{\"type\":\"FeatureCollection\",\"features\":[{\"a\":1}\n  {\"b\":2}]}");
        match err {
            Err(SplitError::Syntax(e)) => assert_eq!((e.line, e.column), (2, 3), "{e}"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(split("[{\"a\":1}").is_err());
        assert!(split("").is_err());
        assert!(split("{\"type\":\"Topology\",\"features\":[]}").is_err());
    }
}
