//! Bringing a loaded index up to date with changes another server (or process) made,
//! from the store's change history, instead of reading the whole slide again: a
//! million-cell slide reloads in seconds, while an edit made elsewhere should be in this
//! server's answers within a second.
//!
//! Every change but a comment bumps its slide's generation by one, and change ids grow
//! in commit order (they are taken under the store's writer lock), so an index `n`
//! generations behind is missing exactly the slide's latest `n` such changes (checked:
//! the slide's generation must equal its number of such changes). Their
//! history holds each touched annotation's state after the change; an undo also removes
//! what the change it undid had created. Imports (and undos of imports) record no
//! per-annotation history: an index behind one of them is reloaded as before.

use super::{Engine, LoadedSlide};
use crate::annotations::error::AnnotationError;
use crate::annotations::index::Staged;
use crate::annotations::model::Annotation;
use crate::annotations::store::{Reads, RecentChange};
use std::sync::Arc;
use uuid::Uuid;

/// Changes applied one by one at most; an index further behind is reloaded.
const MAX_CHANGES: usize = 1000;

/// One step of bringing an index up to date.
enum Step {
    Put(Box<Staged>),
    Remove(Uuid),
}

impl Engine {
    /// Brings the loaded index of `slide` from generation `from` to `to` with the
    /// changes made in between; `false` when that cannot be done and the index must be
    /// reloaded. Called holding the writer, so no change of this server's runs
    /// meanwhile (though one may just have committed: `to` may be behind the store).
    pub(super) fn catch_up(
        &self,
        reader: &dyn Reads,
        slide: &str,
        loaded: &Arc<LoadedSlide>,
        (from, to): (i64, i64),
    ) -> Result<bool, AnnotationError> {
        let Some(Ok(index)) = loaded.index.get() else {
            return Ok(false);
        };
        let now = reader.generation(slide).map_err(|e| self.db_error(e))?;
        let (Ok(count), Ok(since)) = (usize::try_from(to - from), usize::try_from(now - from))
        else {
            return Ok(false);
        };
        if count == 0 || count > since || since > MAX_CHANGES {
            return Ok(false);
        }
        // Generations count changes only if nothing bumped one without recording it.
        if reader.change_count(slide).map_err(|e| self.db_error(e))? != now {
            return Ok(false);
        }
        let mut changes = reader
            .latest_changes(slide, since)
            .map_err(|e| self.db_error(e))?;
        if changes.len() != since {
            return Ok(false);
        }
        changes.truncate(count);
        let Some(steps) = steps_of(reader, &changes).map_err(|e| self.db_error(e))? else {
            return Ok(false);
        };
        // Another process may have committed since `now` was read (on SQLite, a `tessera
        // import` beside this server does not wait for its writer): then the latest
        // changes were not the ones wanted.
        if reader.generation(slide).map_err(|e| self.db_error(e))? != now {
            return Ok(false);
        }
        let mut index = index
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if index.generation != from {
            return Ok(false);
        }
        for step in &steps {
            match step {
                Step::Put(staged) => index.put(staged),
                Step::Remove(id) => {
                    index.remove(id);
                }
            }
        }
        index.generation = to;
        let behind = index.texts_behind();
        drop(index);
        tracing::info!(
            slide,
            changes = count,
            generation = to,
            "annotations changed outside this server; caught up"
        );
        self.settle(slide, loaded, behind);
        Ok(true)
    }
}

/// What `changes` did to the annotations, in order; `None` when a change recorded no
/// per-annotation history (an import, or an undo of one).
fn steps_of(
    reader: &dyn Reads,
    changes: &[RecentChange],
) -> crate::annotations::store::StoreResult<Option<Vec<Step>>> {
    let mut steps = Vec::new();
    for change in changes {
        match change.kind.as_str() {
            "import" => return Ok(None),
            "undo" => {
                let Some(undone) = change.detail.as_deref().and_then(|d| d.parse::<i64>().ok())
                else {
                    return Ok(None);
                };
                if reader.change_kind(undone)?.as_deref() == Some("import") {
                    return Ok(None);
                }
                // What the undone change created is gone (its undo deleted it without
                // history of its own).
                let created = reader.change_history(undone)?.into_iter();
                steps.extend(
                    created
                        .filter(|(_, before, _)| before.is_none())
                        .map(|(id, _, _)| Step::Remove(id)),
                );
            }
            _ => {}
        }
        for (id, _, after) in reader.change_history(change.id)? {
            let staged = after
                .map(|full| Annotation::decode_full(id, &full))
                .transpose()
                .map_err(|e| {
                    crate::annotations::store::StoreError::new(
                        format!("change {}: a damaged history record: {e}", change.id),
                        None,
                    )
                })?
                .and_then(|a| Staged::of(&a));
            steps.push(staged.map_or(Step::Remove(id), |s| Step::Put(Box::new(s))));
        }
    }
    Ok(Some(steps))
}
