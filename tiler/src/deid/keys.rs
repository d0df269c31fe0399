//! Which property names are safe, which identify, by exact names per vendor and by
//! patterns in the name.

use super::Reason;

/// Properties that describe the scan's geometry, optics or colour and nothing else.
/// Those marked `true` are free text (model names, software) and are still checked for
/// serial numbers, dates and ids.
const SAFE: &[(&str, bool)] = &[
    ("openslide.vendor", false),
    ("openslide.mpp-x", false),
    ("openslide.mpp-y", false),
    ("openslide.objective-power", false),
    ("openslide.level-count", false),
    ("openslide.background-color", false),
    ("openslide.bounds-x", false),
    ("openslide.bounds-y", false),
    ("openslide.bounds-width", false),
    ("openslide.bounds-height", false),
    ("openslide.icc-size", false),
    ("tiff.ResolutionUnit", false),
    ("tiff.XResolution", false),
    ("tiff.YResolution", false),
    ("tiff.Make", true),
    ("tiff.Model", true),
    ("tiff.Software", true),
    ("aperio.AppMag", false),
    ("aperio.MPP", false),
    ("aperio.StripeWidth", false),
    ("aperio.Exposure Time", false),
    ("aperio.Exposure Scale", false),
    ("aperio.Gamma", false),
    ("aperio.Focus Offset", false),
    ("aperio.Left", false),
    ("aperio.Top", false),
    ("aperio.LineAreaXOffset", false),
    ("aperio.LineAreaYOffset", false),
    ("aperio.LineCameraSkew", false),
    ("aperio.OriginalWidth", false),
    ("aperio.OriginalHeight", false),
    ("aperio.Originalheight", false),
    ("aperio.Filtered", false),
    ("aperio.ICC Profile", false),
    ("hamamatsu.SourceLens", false),
    ("hamamatsu.XOffsetFromSlideCentre", false),
    ("hamamatsu.YOffsetFromSlideCentre", false),
    ("hamamatsu.ZOffsetFromSlideCentre", false),
    ("hamamatsu.Product", true),
    ("hamamatsu.HardwareModel", true),
    ("leica.aperture", false),
    ("leica.objective", false),
    ("leica.illumination-source", false),
    ("leica.device-model", true),
    ("leica.device-version", true),
    ("mirax.GENERAL.OBJECTIVE_MAGNIFICATION", false),
    ("mirax.GENERAL.SLIDE_VERSION", false),
    ("mirax.GENERAL.CAMERA_IMAGE_DIVISIONS_PER_SIDE", false),
    ("philips.DICOM_PIXEL_SPACING", false),
    ("philips.DICOM_MANUFACTURER", true),
    ("philips.DICOM_MANUFACTURERS_MODEL_NAME", true),
    ("philips.PIM_DP_IMAGE_TYPE", false),
    ("ventana.Magnification", false),
    ("ventana.ScanRes", false),
    ("ventana.ScannerModel", true),
    ("ventana.Z-layers", false),
    ("ventana.Z-spacing", false),
    ("dicom.Manufacturer", true),
    ("dicom.ManufacturerModelName", true),
    ("dicom.ImagedVolumeWidth", false),
    ("dicom.ImagedVolumeHeight", false),
    ("dicom.TotalPixelMatrixColumns", false),
    ("dicom.TotalPixelMatrixRows", false),
];

/// Level and region geometry OpenSlide reports per level or region.
const SAFE_OPENSLIDE_SUFFIXES: &[&str] = &[
    ".width",
    ".height",
    ".downsample",
    ".tile-width",
    ".tile-height",
    ".x",
    ".y",
];

/// MIRAX section fields that are pure geometry or image format.
const SAFE_MIRAX_SUFFIXES: &[&str] = &[
    ".MICROMETER_PER_PIXEL_X",
    ".MICROMETER_PER_PIXEL_Y",
    ".IMAGE_FILL_COLOR_BGR",
    ".IMAGE_FORMAT",
    ".DIGITIZER_WIDTH",
    ".DIGITIZER_HEIGHT",
    ".OVERLAP_X",
    ".OVERLAP_Y",
    ".IMAGE_CONCAT_FACTOR",
];

/// Identifying properties whose names the patterns below would miss or misfile.
const IDENTIFYING: &[(&str, Reason)] = &[
    ("aperio.Title", Reason::Name),
    ("aperio.Slide", Reason::Accession),
    ("aperio.Rack", Reason::Accession),
    ("aperio.Time Zone", Reason::Date),
    ("aperio.ScanScope ID", Reason::UniqueId),
    ("aperio.DSR ID", Reason::UniqueId),
    ("hamamatsu.Reference", Reason::Name),
    ("hamamatsu.Created", Reason::Date),
    ("hamamatsu.Updated", Reason::Date),
    ("hamamatsu.Creator", Reason::Person),
    ("hamamatsu.AuthCode", Reason::UniqueId),
    ("hamamatsu.NDP.S/N", Reason::UniqueId),
    ("tiff.Artist", Reason::Person),
    ("tiff.HostComputer", Reason::UniqueId),
    ("tiff.DocumentName", Reason::FileName),
    ("tiff.PageName", Reason::Name),
    ("tiff.Copyright", Reason::Institution),
    ("ventana.UnitNumber", Reason::UniqueId),
    ("philips.PIM_DP_SCANNER_RACK_NUMBER", Reason::Accession),
    ("philips.PIM_DP_SCANNER_SLOT_NUMBER", Reason::Accession),
];

/// Known not to identify, but not wanted either: left out of caches, not reported.
const NEITHER_PREFIXES: &[&str] = &[
    "openslide.associated.",
    "openslide.quickhash-1",
    "ventana.LabelBoundary",
    "ventana.ShowLabel",
];

/// Properties that are free text and may embed any of the above.
pub(crate) fn is_free_text(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k == "tiff.imagedescription"
        || k == "openslide.comment"
        || k.ends_with("description")
        || k.ends_with("comment")
        || k.ends_with("comments")
}

/// What the name alone says.
pub(crate) enum ByName {
    Safe { free_text: bool },
    Identifying(Reason),
    Neither,
    Unknown,
}

/// Vendors whose exact lists also name the bare fields of free text (`Filename` inside an
/// Aperio description is `aperio.Filename`).
const VENDOR_PREFIXES: &[&str] = &[
    "aperio.",
    "hamamatsu.",
    "leica.",
    "mirax.",
    "philips.",
    "ventana.",
    "dicom.",
    "tiff.",
];

pub(crate) fn by_name(key: &str) -> ByName {
    let bare = !key.contains('.');
    exact(key)
        .or_else(|| {
            VENDOR_PREFIXES
                .iter()
                .filter(|_| bare)
                .find_map(|p| exact(&format!("{p}{key}")))
        })
        .or_else(|| pattern(key).map(ByName::Identifying))
        .unwrap_or(ByName::Unknown)
}

fn exact(key: &str) -> Option<ByName> {
    if let Some(&(_, free_text)) = SAFE.iter().find(|(k, _)| *k == key) {
        return Some(ByName::Safe { free_text });
    }
    if let Some(rest) = key.strip_prefix("openslide.")
        && (rest.starts_with("level[") || rest.starts_with("region["))
        && SAFE_OPENSLIDE_SUFFIXES.iter().any(|s| rest.ends_with(s))
    {
        return Some(ByName::Safe { free_text: false });
    }
    if key.starts_with("mirax.") && SAFE_MIRAX_SUFFIXES.iter().any(|s| key.ends_with(s)) {
        return Some(ByName::Safe { free_text: false });
    }
    if NEITHER_PREFIXES.iter().any(|p| key.starts_with(p)) {
        return Some(ByName::Neither);
    }
    IDENTIFYING
        .iter()
        .find(|(k, _)| *k == key)
        .map(|&(_, reason)| ByName::Identifying(reason))
}

/// Words in a property name that say what it holds, most specific first.
const PATTERNS: &[(&[&str], Reason)] = &[
    (&["patient", "birth", "ethnic"], Reason::Patient),
    (
        &[
            "user",
            "operator",
            "artist",
            "author",
            "physician",
            "technician",
            "technologist",
            "pathologist",
            "creator",
            "owner",
            "person",
            "performer",
        ],
        Reason::Person,
    ),
    (
        &["barcode", "bar_code", "bar code", "label"],
        Reason::Barcode,
    ),
    (&["date", "time", "year"], Reason::Date),
    (
        &["filename", "file_name", "file name", "file"],
        Reason::FileName,
    ),
    (
        &[
            "uid",
            "serial",
            "s/n",
            "host",
            "computer",
            "station",
            "device id",
            "deviceid",
            "device_id",
            "hardware_id",
            "mac address",
        ],
        Reason::UniqueId,
    ),
    (
        &[
            "institution",
            "hospital",
            "department",
            "address",
            "location",
        ],
        Reason::Institution,
    ),
    (
        &[
            "accession",
            "case",
            "specimen",
            "study",
            "requisition",
            "container",
            "series",
            "order number",
        ],
        Reason::Accession,
    ),
    (&["name", "title", "reference"], Reason::Name),
];

fn pattern(key: &str) -> Option<Reason> {
    let lower = key.to_ascii_lowercase();
    for (words, reason) in PATTERNS {
        let hit = words.iter().any(|w| {
            lower.contains(w)
                // Exposure and integration times are optics, and an ICC profile is no file.
                && !(*reason == Reason::Date && lower.contains("exposure"))
                && !(*reason == Reason::FileName && lower.contains("profile"))
        });
        if hit {
            return Some(*reason);
        }
    }
    ends_in_id(key).then_some(Reason::UniqueId)
}

/// `ImageID`, `SLIDE_ID`, `ScanScope ID`, `slide-id`, `id`: a name whose last word is "id".
fn ends_in_id(key: &str) -> bool {
    let last = key.rsplit('.').next().unwrap_or(key);
    let bytes = last.as_bytes();
    let n = bytes.len();
    if n < 2 || !last[n - 2..].eq_ignore_ascii_case("id") {
        return false;
    }
    if n == 2 {
        return true;
    }
    let before = bytes[n - 3];
    // `_id`, ` ID`, `-id`, or camel case (`ImageID`, `slideId`); not `GRID` or `valid`.
    matches!(before, b' ' | b'_' | b'-')
        || (bytes[n - 2] == b'I' && (before.is_ascii_lowercase() || before.is_ascii_digit()))
}
