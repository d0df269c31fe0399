//! Decoded source tiles, first in first out within a byte budget, shared by the readers
//! that decode tiles themselves. Output tiles rarely align with source tiles, so each
//! source tile is needed by several output tiles.

use crate::error::{Result, TilerError};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

/// (level, tile index within the level).
type ChunkKey = (u32, u32);
type ChunkCell = Arc<OnceLock<Result<Arc<Vec<u8>>, String>>>;

/// Decoded source tiles, first in first out within a byte budget. Concurrent requests for
/// one tile wait for a single decode.
#[derive(Debug)]
pub(crate) struct ChunkCache {
    budget: usize,
    inner: Mutex<ChunkCacheInner>,
}

#[derive(Debug, Default)]
pub(crate) struct ChunkCacheInner {
    map: HashMap<ChunkKey, (ChunkCell, usize)>,
    order: VecDeque<ChunkKey>,
    bytes: usize,
}

impl ChunkCache {
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            budget,
            inner: Mutex::new(ChunkCacheInner::default()),
        }
    }

    pub(crate) fn get_or_decode(
        &self,
        key: ChunkKey,
        size: usize,
        decode: impl FnOnce() -> Result<Vec<u8>>,
    ) -> Result<Arc<Vec<u8>>> {
        let cell = {
            let mut inner = self
                .inner
                .lock()
                .map_err(|_| TilerError::Usage("tile cache poisoned".into()))?;
            if let Some((cell, _)) = inner.map.get(&key) {
                Arc::clone(cell)
            } else {
                let cell: ChunkCell = Arc::default();
                inner.map.insert(key, (Arc::clone(&cell), size));
                inner.order.push_back(key);
                inner.bytes += size;
                while inner.bytes > self.budget && inner.order.len() > 1 {
                    if let Some(old) = inner.order.pop_front()
                        && let Some((_, old_size)) = inner.map.remove(&old)
                    {
                        inner.bytes -= old_size;
                    }
                }
                cell
            }
        };
        let mut error = None;
        let result = cell.get_or_init(|| match decode() {
            Ok(v) => Ok(Arc::new(v)),
            Err(e) => {
                let text = e.to_string();
                error = Some(e);
                Err(text)
            }
        });
        match (result, error) {
            (Ok(v), _) => Ok(Arc::clone(v)),
            (Err(_), Some(e)) => Err(e),
            (Err(text), None) => Err(TilerError::Usage(text.clone())),
        }
    }
}
