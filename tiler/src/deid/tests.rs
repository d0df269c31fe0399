//! The classifier on property sets of several vendors, as OpenSlide names them.

use super::{Class, Reason, classify, identifying_values, leaked_value, safe_properties};
use std::collections::BTreeMap;

fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect()
}

/// Asserts every `(key, value, expected)` and returns nothing; names the key on failure.
fn check(cases: &[(&str, &str, Class)]) {
    for (key, value, expected) in cases {
        assert_eq!(classify(key, value), *expected, "{key} = {value:?}");
    }
}

use Class::{Identifying as Id, Safe, Unrecognised};

const CMU_DESCRIPTION: &str = "Aperio Image Library v11.2.1 \r\n46000x32914 [42673,5576 2220x2967] (240x240) JPEG/RGB Q=30;Aperio Image Library v10.0.51\r\n46920x33014 [0,100 46000x32914] (256x256) JPEG/RGB Q=30|AppMag = 20|StripeWidth = 2040|ScanScope ID = CPAPERIOCS|Filename = CMU-1|Date = 12/29/09|Time = 09:59:15|User = b414003d-95c6-48b0-9369-8010ed517ba7|Parmset = USM Filter|MPP = 0.4990|Left = 25.691574|Top = 23.449873|LineCameraSkew = -0.000424|LineAreaXOffset = 0.019265|LineAreaYOffset = -0.000313|Focus Offset = 0.000000|ImageID = 1004486|OriginalWidth = 46920|Originalheight = 33014|Filtered = 5|OriginalWidth = 46000|OriginalHeight = 32914";

#[test]
fn aperio_cmu_1() {
    check(&[
        ("aperio.Filename", "CMU-1", Id(Reason::FileName)),
        ("aperio.Date", "12/29/09", Id(Reason::Date)),
        ("aperio.Time", "09:59:15", Id(Reason::Date)),
        ("aperio.Time Zone", "GMT-05:00", Id(Reason::Date)),
        (
            "aperio.User",
            "b414003d-95c6-48b0-9369-8010ed517ba7",
            Id(Reason::Person),
        ),
        ("aperio.ImageID", "1004486", Id(Reason::UniqueId)),
        ("aperio.ScanScope ID", "CPAPERIOCS", Id(Reason::UniqueId)),
        ("aperio.DSR ID", "PATHSRV01", Id(Reason::UniqueId)),
        ("aperio.Barcode", "S09-1234 A1", Id(Reason::Barcode)),
        ("aperio.AppMag", "20", Safe),
        ("aperio.MPP", "0.4990", Safe),
        ("aperio.Exposure Time", "109", Safe),
        ("aperio.OriginalWidth", "46000", Safe),
        (
            "aperio.ICC Profile",
            "IEC 61966-2.1 Default RGB colour space - sRGB",
            Safe,
        ),
        ("aperio.Parmset", "USM Filter", Unrecognised),
        (
            "tiff.ImageDescription",
            CMU_DESCRIPTION,
            Id(Reason::FreeText),
        ),
        ("openslide.comment", CMU_DESCRIPTION, Id(Reason::FreeText)),
        ("openslide.mpp-x", "0.499", Safe),
        ("openslide.level[0].tile-width", "240", Safe),
        ("openslide.level[12].downsample", "4.0161290322580641", Safe),
        ("openslide.vendor", "aperio", Safe),
        ("openslide.quickhash-1", "6335ea0e6cc54c2c", Unrecognised),
        ("openslide.associated.label.width", "387", Unrecognised),
        ("tiff.ResolutionUnit", "inch", Safe),
    ]);
    // A description with nothing identifying is still free text nobody vouched for.
    check(&[(
        "tiff.ImageDescription",
        "Aperio Image Library v11.0.37\r\n4443x3567 (256x256) J2K/KDU Q=70|ICC Profile = IEC 61966-2.1 Default RGB colour space - sRGB",
        Unrecognised,
    )]);
}

#[test]
fn the_fields_a_description_embeds_are_found() {
    let p = props(&[
        ("tiff.ImageDescription", CMU_DESCRIPTION),
        ("aperio.MPP", "0.4990"),
    ]);
    let found: Vec<(String, String)> = identifying_values(&p)
        .into_iter()
        .map(|v| (v.key, v.value))
        .collect();
    for (key, value) in [
        ("Filename", "CMU-1"),
        ("Date", "12/29/09"),
        ("Time", "09:59:15"),
        ("User", "b414003d-95c6-48b0-9369-8010ed517ba7"),
        ("ImageID", "1004486"),
        ("ScanScope ID", "CPAPERIOCS"),
    ] {
        assert!(
            found.contains(&(key.to_string(), value.to_string())),
            "{key} missing from {found:?}"
        );
    }
    assert!(
        !found.iter().any(|(k, _)| k == "MPP" || k == "AppMag"),
        "{found:?}"
    );
    assert_eq!(
        safe_properties(&p),
        props(&[("aperio.MPP", "0.4990")]),
        "the description itself is never kept"
    );
}

#[test]
fn hamamatsu_ndpi() {
    check(&[
        ("hamamatsu.Reference", "S-2019-0421 HE", Id(Reason::Name)),
        ("hamamatsu.Created", "2019/04/21", Id(Reason::Date)),
        ("hamamatsu.Updated", "2019/04/22", Id(Reason::Date)),
        ("hamamatsu.Creator", "NDP.scan 3.2", Id(Reason::Person)),
        ("hamamatsu.NDP.S/N", "430071", Id(Reason::UniqueId)),
        ("hamamatsu.HardwareSerial", "000123", Id(Reason::UniqueId)),
        ("hamamatsu.AuthCode", "1234", Id(Reason::UniqueId)),
        ("hamamatsu.ImageFile", "slide.vmu", Id(Reason::FileName)),
        ("hamamatsu.SourceLens", "40", Safe),
        ("hamamatsu.XOffsetFromSlideCentre", "-1200", Safe),
        ("hamamatsu.Product", "NanoZoomer 2.0-HT", Safe),
        (
            "hamamatsu.Product",
            "NanoZoomer S/N 12",
            Id(Reason::UniqueId),
        ),
        ("tiff.DateTime", "2019:04:21 10:11:12", Id(Reason::Date)),
        ("tiff.Make", "Hamamatsu", Safe),
        ("tiff.Software", "NDP.scan 3.2.15", Safe),
    ]);
}

#[test]
fn mirax() {
    check(&[
        ("mirax.GENERAL.SLIDE_NAME", "B21-555", Id(Reason::Name)),
        (
            "mirax.GENERAL.PROJECT_NAME",
            "liver study",
            Id(Reason::Name),
        ),
        (
            "mirax.GENERAL.SLIDE_ID",
            "2A8C77DE8C7D4B0F",
            Id(Reason::UniqueId),
        ),
        (
            "mirax.GENERAL.SLIDE_CREATIONDATETIME",
            "21/04/2019 10:11:12",
            Id(Reason::Date),
        ),
        (
            "mirax.GENERAL.SLIDE_BARCODE",
            "QjIxLTU1NQ==",
            Id(Reason::Barcode),
        ),
        (
            "mirax.NONHIERLAYER_0_SECTION.SCANNER_HARDWARE_ID",
            "3DHIST-0042",
            Id(Reason::UniqueId),
        ),
        (
            "mirax.LAYER_0_LEVEL_0_SECTION.MICROMETER_PER_PIXEL_X",
            "0.243",
            Safe,
        ),
        (
            "mirax.LAYER_0_LEVEL_0_SECTION.IMAGE_FILL_COLOR_BGR",
            "16777215",
            Safe,
        ),
        ("mirax.GENERAL.OBJECTIVE_MAGNIFICATION", "20", Safe),
        ("mirax.GENERAL.SLIDE_TYPE", "Brightfield", Unrecognised),
    ]);
}

#[test]
fn dicom() {
    check(&[
        ("dicom.PatientName", "Doe^Jane", Id(Reason::Patient)),
        ("dicom.PatientID", "MRN0012345", Id(Reason::Patient)),
        ("dicom.PatientBirthDate", "19700101", Id(Reason::Patient)),
        ("dicom.PatientSex", "F", Id(Reason::Patient)),
        ("dicom.StudyDate", "20190421", Id(Reason::Date)),
        (
            "dicom.AcquisitionDateTime",
            "20190421101112",
            Id(Reason::Date),
        ),
        ("dicom.AccessionNumber", "A19-123", Id(Reason::Accession)),
        ("dicom.StudyID", "S1", Id(Reason::Accession)),
        (
            "dicom.ContainerIdentifier",
            "B19-123-1",
            Id(Reason::Accession),
        ),
        (
            "dicom.StudyInstanceUID",
            "1.2.840.99999.1.2.3",
            Id(Reason::UniqueId),
        ),
        ("dicom.DeviceSerialNumber", "SN-77", Id(Reason::UniqueId)),
        (
            "dicom.InstitutionName",
            "General Hospital",
            Id(Reason::Institution),
        ),
        ("dicom.ReferringPhysicianName", "Dr^Who", Id(Reason::Person)),
        ("dicom.OperatorsName", "Tech^One", Id(Reason::Person)),
        ("dicom.ManufacturerModelName", "Aperio GT 450", Safe),
        ("dicom.Manufacturer", "Leica Biosystems", Safe),
        ("dicom.TotalPixelMatrixColumns", "16", Safe),
        // Unknown names with identifying values are caught by the value.
        (
            "dicom.SomethingNew",
            "1.2.840.10008.5.1.4.1",
            Id(Reason::UniqueId),
        ),
    ]);
}

#[test]
fn generic_tiff_leica_ventana_philips() {
    check(&[
        ("tiff.Artist", "jdoe", Id(Reason::Person)),
        ("tiff.HostComputer", "PATH-WS-7", Id(Reason::UniqueId)),
        ("tiff.DocumentName", "case 17.tif", Id(Reason::FileName)),
        (
            "tiff.Copyright",
            "General Hospital",
            Id(Reason::Institution),
        ),
        ("tiff.Model", "Scanner 2000", Safe),
        ("tiff.Model", "Scanner 2000 serial 4", Id(Reason::UniqueId)),
        ("tiff.XResolution", "28.346456527709961", Safe),
        ("leica.barcode", "QkFSQ09ERQ==", Id(Reason::Barcode)),
        (
            "leica.creation-date",
            "2012-03-04T05:06:07.89Z",
            Id(Reason::Date),
        ),
        ("leica.device-model", "Leica SCN400", Safe),
        ("leica.objective", "20", Safe),
        ("ventana.UserName", "scanner-op", Id(Reason::Person)),
        ("ventana.UnitNumber", "BI10N0123", Id(Reason::UniqueId)),
        ("ventana.BuildDate", "2015/07/21", Id(Reason::Date)),
        ("ventana.Barcode1D", "12345", Id(Reason::Barcode)),
        ("ventana.ScannerModel", "VENTANA iScan HT", Safe),
        ("ventana.Magnification", "40", Safe),
        ("ventana.LabelBoundary", "0,0,10,10", Unrecognised),
        (
            "philips.PIM_DP_UFS_BARCODE",
            "UzE5LTE=",
            Id(Reason::Barcode),
        ),
        (
            "philips.DICOM_ACQUISITION_DATETIME",
            "20190421101112.000000",
            Id(Reason::Date),
        ),
        (
            "philips.DICOM_DEVICE_SERIAL_NUMBER",
            "FMT0123",
            Id(Reason::UniqueId),
        ),
        (
            "philips.PIM_DP_SCANNER_SLOT_NUMBER",
            "3",
            Id(Reason::Accession),
        ),
        (
            "philips.PIM_DP_SOURCE_FILE",
            "%FILENAME%",
            Id(Reason::FileName),
        ),
        (
            "philips.DICOM_PIXEL_SPACING",
            "\"0.000250\" \"0.000250\"",
            Safe,
        ),
        ("philips.DICOM_MANUFACTURERS_MODEL_NAME", "UFS", Safe),
        (
            "philips.DICOM_SOFTWARE_VERSIONS",
            "\"1.8.6614\"",
            Unrecognised,
        ),
    ]);
    let philips_xml = r#"<DataObject><Attribute Name="DICOM_PATIENT_NAME">Doe^Jane</Attribute><Attribute Name="DICOM_PIXEL_SPACING">0.00025</Attribute></DataObject>"#;
    check(&[("tiff.ImageDescription", philips_xml, Id(Reason::FreeText))]);
}

#[test]
fn names_that_contain_a_value_are_caught() {
    let p = props(&[
        ("aperio.Filename", "CMU-1"),
        ("aperio.Date", "12/29/09"),
        ("aperio.AppMag", "20"),
        ("aperio.Slide", "7"),
    ]);
    let leak = leaked_value("CMU-1-Small-Region", &p).expect("leak");
    assert_eq!(leak.key, "aperio.Filename");
    assert!(
        leaked_value("cmu-1-small-region.svs", &p).is_some(),
        "ignores case"
    );
    assert!(
        leaked_value("scan_12_29_09", &p).is_some(),
        "as ids write it"
    );
    assert!(
        leaked_value("slide-20x", &p).is_none(),
        "short values do not count"
    );
    assert!(leaked_value("region-7", &p).is_none());
    let embedded = props(&[("tiff.ImageDescription", CMU_DESCRIPTION)]);
    let leak = leaked_value("CMU-1-Small-Region", &embedded).expect("leak");
    assert_eq!(
        (leak.key.as_str(), leak.within.as_deref()),
        ("Filename", Some("tiff.ImageDescription"))
    );
}

#[test]
fn value_patterns() {
    use super::text::{Looks, has_hex_token, longest_digit_run, looks};
    for date in [
        "12/29/09",
        "2009-12-29",
        "29.12.2009",
        "09:59:15",
        "at 9:05 pm",
    ] {
        assert_eq!(looks(date), Some(Looks::DateOrTime), "{date}");
    }
    for id in ["b414003d-95c6-48b0-9369-8010ed517ba7", "1.2.840.10008.5"] {
        assert_eq!(looks(id), Some(Looks::UniqueId), "{id}");
    }
    for plain in [
        "v12.0.15",
        "0.4990",
        "46000x32914 [0,100 46000x32914]",
        "Q=30",
        "-0.000424",
    ] {
        assert_eq!(looks(plain), None, "{plain}");
    }
    assert_eq!(longest_digit_run("tcga-cr-7395-01a"), 4);
    assert!(has_hex_token("x-6335ea0e6c", 8));
    assert!(!has_hex_token("CMU-1-Small-Region", 8));
    assert!(!has_hex_token("deadbeef", 8), "letters only is a word");
}
