//! Buffers for the pieces of answers copied from the texts file, kept for reuse: a query
//! copies into them, and the server gives them back once their bytes are sent. Reused,
//! their pages are not faulted in and zeroed again for every answer (400 region answers
//! of 20 MB took about 11,000 page faults with fresh buffers, under 1,000 with these).

use bytes::Bytes;
use std::sync::{Mutex, MutexGuard};

/// Bytes of one piece.
pub const PIECE_CAP: usize = 256 << 10;
/// Buffers kept when nobody uses them (6 MB), enough for a few answers in flight.
const KEPT: usize = 24;

static SPARE: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

fn spare() -> MutexGuard<'static, Vec<Vec<u8>>> {
    SPARE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A piece of an answer being filled: the first `len` bytes of a reused buffer.
#[derive(Debug)]
pub struct Piece {
    buf: Vec<u8>,
    len: usize,
}

impl Piece {
    /// An empty piece with [`PIECE_CAP`] bytes of room.
    #[must_use]
    pub fn new() -> Self {
        let buf = spare().pop().unwrap_or_else(|| vec![0; PIECE_CAP]);
        Self { buf, len: 0 }
    }

    #[must_use]
    pub fn room(&self) -> usize {
        self.buf.len() - self.len
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `bytes`, which must fit in [`Piece::room`].
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// The piece as bytes to send; its buffer comes back once they are dropped.
    #[must_use]
    pub fn into_bytes(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl Default for Piece {
    fn default() -> Self {
        Self::new()
    }
}

impl AsRef<[u8]> for Piece {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Piece {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if buf.len() == PIECE_CAP {
            let mut spare = spare();
            if spare.len() < KEPT {
                spare.push(buf);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A piece holds what was pushed and claimed, and a piece made after one was sent
    /// and dropped starts empty with full room (a reused buffer's old bytes never show).
    #[test]
    fn pieces_hold_their_bytes_and_start_empty() {
        let mut piece = Piece::new();
        piece.push(b"{\"a\":");
        piece.push(b"1}");
        assert_eq!(piece.room(), PIECE_CAP - 7);
        let bytes = piece.into_bytes();
        assert_eq!(&bytes[..], b"{\"a\":1}");
        drop(bytes);
        let again = Piece::new();
        assert!(again.is_empty());
        assert_eq!(again.room(), PIECE_CAP);
        assert!(again.into_bytes().is_empty());
    }
}
