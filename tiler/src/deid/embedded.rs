//! Fields embedded in free-text properties: Aperio's `|Key = Value|` list, `key=value` or
//! `key: value` lines, and XML (element text, attributes, Philips' `Name="KEY"` form).

/// Longest key taken as a field name; longer "keys" are prose, not fields.
const MAX_KEY: usize = 64;

/// Every `(key, value)` field `text` embeds, in order. Empty values are left out.
#[must_use]
pub fn embedded_fields(text: &str) -> Vec<(String, String)> {
    if text.trim_start().starts_with('<') {
        return xml_fields(text);
    }
    if text.contains('|') {
        // Aperio: a header (library, sizes, compression), then `|Key = Value` items.
        return text
            .split('|')
            .skip(1)
            .filter_map(|item| pair(item, '='))
            .collect();
    }
    text.split(['\n', '\r', ';'])
        .filter_map(|line| pair(line, '=').or_else(|| pair(line, ':')))
        .collect()
}

fn pair(item: &str, separator: char) -> Option<(String, String)> {
    let (key, value) = item.split_once(separator)?;
    let (key, value) = (key.trim(), value.trim());
    let keyish = !key.is_empty()
        && key.len() <= MAX_KEY
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.' | '/'));
    (keyish && !value.is_empty()).then(|| (key.to_string(), value.to_string()))
}

/// Element text (keyed by the element's `Name` attribute when it has one, else by its tag)
/// and attribute values, from anything XML-like. Not a validating parser: it only has to
/// find what a file says.
fn xml_fields(text: &str) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find('>') else { break };
        let tag = &rest[..close];
        rest = &rest[close + 1..];
        if tag.starts_with(['/', '?', '!']) {
            continue;
        }
        let tag = tag.trim_end_matches('/');
        let name_end = tag.find(char::is_whitespace).unwrap_or(tag.len());
        let element = &tag[..name_end];
        let attributes = attributes(&tag[name_end..]);
        let named = attributes
            .iter()
            .find(|(k, _)| {
                k.eq_ignore_ascii_case("name") && element.eq_ignore_ascii_case("attribute")
            })
            .map(|(_, v)| v.clone());
        for (k, v) in attributes {
            if named.is_none() || !k.eq_ignore_ascii_case("name") {
                fields.push((k, v));
            }
        }
        let body = rest[..rest.find('<').unwrap_or(rest.len())].trim();
        if !body.is_empty() {
            fields.push((named.unwrap_or_else(|| element.to_string()), unescape(body)));
        }
    }
    fields.retain(|(k, v)| !k.is_empty() && k.len() <= MAX_KEY && !v.is_empty());
    fields
}

/// `key="value"` (or single-quoted) pairs of one tag.
fn attributes(mut s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Some(eq) = s.find('=') {
        let key = s[..eq].trim();
        let after = s[eq + 1..].trim_start();
        let Some(quote) = after.chars().next().filter(|c| matches!(c, '"' | '\'')) else {
            break;
        };
        let Some(end) = after[1..].find(quote) else {
            break;
        };
        out.push((key.to_string(), unescape(&after[1..=end])));
        s = &after[end + 2..];
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::embedded_fields;

    fn fields(text: &str) -> Vec<(String, String)> {
        embedded_fields(text)
    }

    fn kv(key: &str, value: &str) -> (String, String) {
        (key.to_string(), value.to_string())
    }

    #[test]
    fn aperio_descriptions() {
        let d = "Aperio Image Library v11.2.1 \r\n46000x32914 [42673,5576 2220x2967] (240x240) JPEG/RGB Q=30;Aperio Image Library v10.0.51\r\n46920x33014 [0,100 46000x32914] (256x256) JPEG/RGB Q=30|AppMag = 20|ScanScope ID = CPAPERIOCS|Filename = CMU-1|Date = 12/29/09|Time = 09:59:15|User = b414003d-95c6-48b0-9369-8010ed517ba7|MPP = 0.4990|ImageID = 1004486";
        let f = fields(d);
        assert_eq!(f[0], kv("AppMag", "20"));
        assert!(f.contains(&kv("Filename", "CMU-1")));
        assert!(f.contains(&kv("Time", "09:59:15")));
        assert!(f.contains(&kv("ImageID", "1004486")));
        assert_eq!(f.len(), 8, "the header's Q=30 is not a field: {f:?}");
    }

    #[test]
    fn lines_and_xml() {
        assert_eq!(
            fields("ImageJ=1.52\nscanned: 2020-01-02\nfree prose, no field"),
            vec![kv("ImageJ", "1.52"), kv("scanned", "2020-01-02")]
        );
        let philips = r#"<?xml version="1.0"?><DataObject ObjectType="DPUfsImport"><Attribute Name="PIM_DP_UFS_BARCODE" Group="0x301D" Element="0x1002" PMSVR="IString">U0xJREUtMQ==</Attribute><Attribute Name="DICOM_PATIENT_NAME" PMSVR="IString">Doe^Jane &amp; co</Attribute></DataObject>"#;
        let f = fields(philips);
        assert!(
            f.contains(&kv("PIM_DP_UFS_BARCODE", "U0xJREUtMQ==")),
            "{f:?}"
        );
        assert!(
            f.contains(&kv("DICOM_PATIENT_NAME", "Doe^Jane & co")),
            "{f:?}"
        );
        assert!(!f.iter().any(|(k, _)| k == "Name"), "{f:?}");
        let leica = r#"<scn xmlns="http://www.leica-microsystems.com/scn/2010/10/01"><collection name="S-1234" uuid="urn:uuid:8e4e7d5e-1b2c-4d3e-9f00-aabbccddeeff"><barcode>QkFSQ09ERQ==</barcode><image><creationDate>2012-03-04T05:06:07</creationDate></image></collection></scn>"#;
        let f = fields(leica);
        assert!(f.contains(&kv("name", "S-1234")), "{f:?}");
        assert!(f.contains(&kv("barcode", "QkFSQ09ERQ==")), "{f:?}");
        assert!(
            f.contains(&kv("creationDate", "2012-03-04T05:06:07")),
            "{f:?}"
        );
    }
}
