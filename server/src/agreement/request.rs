//! An agreement request on a slide of the engine, its JSON report, and storing the
//! consensus: what the CLI and the HTTP API share, so they answer alike.

use super::consensus::{ConsensusInstance, feature_collection};
use super::error::{AgreementError, rater_parameter};
use super::load::{RaterSpec, Source, scan};
use super::{FleissReport, Options, PairReport, analyse, check};
use crate::annotations::{Engine, ImportOptions, ImportReport, Provenance};
use serde::Serialize;
use std::collections::BTreeMap;

/// Author of the stored consensus annotations.
pub const CONSENSUS_AUTHOR: &str = "consensus";

/// What to compare.
#[derive(Debug, Clone)]
pub struct Request {
    pub slide: String,
    /// Rater a (the reference), rater b, then the others.
    pub raters: Vec<RaterSpec>,
    pub options: Options,
    /// Where the consensus is to be stored (must not hold annotations yet).
    pub consensus_layer: Option<String>,
}

impl Request {
    /// A request from the raters' names as given (`a`, `b`, then `also`).
    pub fn new(
        slide: &str,
        raters: &[String],
        options: Options,
        consensus_layer: Option<String>,
    ) -> Result<Self, AgreementError> {
        let raters = raters
            .iter()
            .enumerate()
            .map(|(k, r)| RaterSpec::parse(r, rater_parameter(k)))
            .collect::<Result<Vec<_>, _>>()?;
        check(raters.len(), &options)?;
        if consensus_layer
            .as_deref()
            .is_some_and(|l| l.trim().is_empty())
        {
            return Err(AgreementError::bad("layer", "empty layer name"));
        }
        Ok(Self {
            slide: slide.to_string(),
            raters,
            options,
            consensus_layer,
        })
    }
}

/// One rater in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RaterInfo {
    /// As the caller named it.
    pub rater: String,
    /// Whether the name was taken as an author (`user`) or a layer.
    pub source: Source,
    pub name: String,
    /// Areas compared.
    pub instances: usize,
    /// Points and lines left out.
    pub skipped: usize,
}

/// What the consensus would hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsensusSummary {
    /// Raters a cluster needs (more than half).
    pub needs: usize,
    pub instances: usize,
    /// Consensus instances per class.
    pub classes: BTreeMap<String, usize>,
}

/// The answer to a request, as JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub slide: String,
    pub iou_threshold: f64,
    pub class: Option<String>,
    pub raters: Vec<RaterInfo>,
    /// Every pair of raters in the order named, the first of each the reference; the
    /// first pair is a against b.
    pub pairs: Vec<PairReport>,
    /// With three raters or more.
    pub fleiss: Option<FleissReport>,
    pub consensus: ConsensusSummary,
}

/// A report and the consensus it found.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub report: Report,
    pub consensus: Vec<ConsensusInstance>,
    layer: Option<String>,
}

/// Reads the raters from the engine and compares them. With a consensus layer, refuses
/// at once if that layer already holds annotations on the slide.
pub fn evaluate(engine: &Engine, request: &Request) -> Result<Outcome, AgreementError> {
    let layer = request.consensus_layer.as_deref();
    let found = scan(engine, &request.slide, &request.raters, layer)?;
    if let Some(layer) = layer
        && found.in_layer > 0
    {
        return Err(AgreementError::LayerInUse {
            layer: layer.to_string(),
            slide: request.slide.clone(),
            count: found.in_layer,
        });
    }
    let raters: Vec<super::Rater> = found.raters.iter().map(|l| l.rater.clone()).collect();
    let analysis = analyse(&raters, &request.options)?;
    let infos = found
        .raters
        .iter()
        .zip(&analysis.counts)
        .map(|(l, c)| RaterInfo {
            rater: l.spec.given.clone(),
            source: l.source,
            name: l.spec.name.clone(),
            instances: c.instances,
            skipped: c.skipped,
        })
        .collect();
    let mut classes = BTreeMap::new();
    for c in &analysis.consensus {
        *classes.entry(c.class.clone()).or_default() += 1;
    }
    let report = Report {
        slide: request.slide.clone(),
        iou_threshold: request.options.iou,
        class: request.options.class.clone(),
        raters: infos,
        pairs: analysis.pairs,
        fleiss: analysis.fleiss,
        consensus: ConsensusSummary {
            needs: raters.len() / 2 + 1,
            instances: analysis.consensus.len(),
            classes,
        },
    };
    Ok(Outcome {
        report,
        consensus: analysis.consensus,
        layer: request.consensus_layer.clone(),
    })
}

impl Outcome {
    /// Stores the consensus in the request's layer through the all-or-nothing import:
    /// provenance human, author [`CONSENSUS_AUTHOR`], new ids.
    pub fn store(&self, engine: &Engine) -> Result<ImportReport, AgreementError> {
        let layer = self
            .layer
            .clone()
            .ok_or_else(|| AgreementError::bad("layer", "no layer named for the consensus"))?;
        if self.consensus.is_empty() {
            return Err(AgreementError::NoConsensus {
                raters: self.report.raters.len(),
            });
        }
        let opts = ImportOptions {
            layer,
            provenance: Some(Provenance::Human),
            author: CONSENSUS_AUTHOR.to_string(),
            repair: false,
            new_ids: true,
            default_class: None,
            ..ImportOptions::default()
        };
        let body = feature_collection(&self.consensus);
        Ok(engine.import(&self.report.slide, body.as_slice(), &opts, &|_| {})?)
    }
}
