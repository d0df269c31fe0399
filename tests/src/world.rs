//! A data directory with a slide in a project, a label schema and a user per role, served
//! by `tessera serve`: the world the access, review and attack suites run in.

use crate::{HttpResponse, Server, tessera_ok};
use std::collections::BTreeMap;

pub const SLIDE: &str = "s";
pub const PROJECT: &str = "p";

/// Roles in the matrix: (name, role, project); `outsider` has a role in another project
/// only, `gone` is revoked, `none` sends no token.
pub const USERS: [(&str, &str, &str); 7] = [
    ("vie", "viewer", PROJECT),
    ("ann", "annotator", PROJECT),
    ("ann2", "annotator", PROJECT),
    ("rev", "reviewer", PROJECT),
    ("adm", "admin", ""),
    ("outsider", "admin", "q"),
    ("gone", "annotator", PROJECT),
];

/// The served data directory and each user's token.
#[derive(Debug)]
pub struct World {
    pub dir: tempfile::TempDir,
    pub data: std::path::PathBuf,
    pub server: Server,
    pub tokens: BTreeMap<&'static str, String>,
}

#[must_use]
pub fn square(x: f64, class: &str, extra: &str) -> String {
    format!(
        r#"{{"type":"Feature","geometry":{{"type":"Polygon","coordinates":[[[{x},10],[{x2},10],[{x2},60],[{x},60],[{x},10]]]}},"properties":{{"classification":{{"name":"{class}"}}{extra}}}}}"#,
        x2 = x + 50.0
    )
}

/// A temporary directory with a data directory `data` holding one synthetic slide
/// `SLIDE` of `width × height` pixels, tiled.
#[must_use]
pub fn slide_dir(width: u32, height: u32) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data dir");
    let svs = dir.path().join("s.svs");
    let (w, h) = (width.to_string(), height.to_string());
    tessera_ok(&[&"synth", &"-o", &svs, &"--width", &w, &"--height", &h]);
    tessera_ok(&[&"tile", &svs, &"-o", &data, &"--id", &SLIDE]);
    (dir, data)
}

#[must_use]
pub fn world(blind: bool) -> World {
    let (dir, data) = slide_dir(1024, 768);
    tessera_ok(&[&"project", &"create", &PROJECT, &"--data", &data]);
    tessera_ok(&[&"project", &"create", &"q", &"--data", &data]);
    if blind {
        tessera_ok(&[&"project", &"blind", &PROJECT, &"true", &"--data", &data]);
    }
    tessera_ok(&[&"project", &"add-slide", &PROJECT, &SLIDE, &"--data", &data]);
    let schema = dir.path().join("schema.json");
    std::fs::write(
        &schema,
        r##"{"classes":[{"name":"Tumor","color":"#c83232","code":"T","guideline":"Malignant epithelium; exclude in-situ."},{"name":"Stroma","color":"#32c832"}]}"##,
    )
    .expect("schema");
    tessera_ok(&[&"project", &"schema", &PROJECT, &schema, &"--data", &data]);
    let mut tokens = BTreeMap::new();
    for (name, role, project) in USERS {
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> =
            vec![&"user", &"add", &name, &"--role", &role, &"--data", &data];
        if !project.is_empty() {
            args.extend([&"--project" as &dyn AsRef<std::ffi::OsStr>, &project]);
        }
        let token = tessera_ok(&args).trim().to_string();
        assert!(token.starts_with("tsr_") && token.len() == 68, "{token}");
        tokens.insert(name, token);
    }
    tessera_ok(&[&"user", &"revoke", &"gone", &"--data", &data]);
    let server = Server::start(&data, &[]);
    World {
        dir,
        data,
        server,
        tokens,
    }
}

impl World {
    #[must_use]
    pub fn call(&self, who: &str, method: &str, path: &str, body: &str) -> HttpResponse {
        self.call_with(who, method, path, body, &[])
    }

    #[must_use]
    pub fn call_with(
        &self,
        who: &str,
        method: &str,
        path: &str,
        body: &str,
        extra: &[(&str, &str)],
    ) -> HttpResponse {
        let auth = self.tokens.get(who).map(|t| format!("Bearer {t}"));
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        if let Some(a) = &auth {
            headers.push(("Authorization", a));
        }
        self.server.request(method, path, &headers, body.as_bytes())
    }

    /// Creates an annotation as `who` and returns (id, version).
    #[expect(
        clippy::must_use_candidate,
        reason = "tests also create annotations just to have them"
    )]
    pub fn create(&self, who: &str, x: f64) -> (String, u64) {
        let r = self.call(
            who,
            "POST",
            &format!("/api/slides/{SLIDE}/annotations?layer=manual"),
            &square(x, "Tumor", ""),
        );
        assert_eq!(r.status, 201, "{who} creates: {}", r.text());
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        (
            v["id"].as_str().expect("id").to_string(),
            v["properties"]["version"].as_u64().expect("version"),
        )
    }

    #[must_use]
    pub fn review(&self, who: &str, id: &str, to: &str) -> HttpResponse {
        self.call(
            who,
            "POST",
            &format!("/api/annotations/{id}/review"),
            &format!(r#"{{"status":"{to}","comment":"by {who}"}}"#),
        )
    }

    /// A new audit of the slide (made by the admin): its id and first item.
    #[must_use]
    pub fn audit(&self) -> (u64, String) {
        let r = self.call(
            "adm",
            "POST",
            "/api/slides/s/audits",
            r#"{"fraction":1,"seed":1}"#,
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        (
            v["id"].as_u64().expect("audit id"),
            v["items"][0]["id"].as_str().expect("an item").to_string(),
        )
    }

    #[must_use]
    pub fn export_ids(&self) -> Vec<String> {
        let r = self.call(
            "adm",
            "GET",
            &format!("/api/slides/{SLIDE}/annotations/export"),
            "",
        );
        assert_eq!(r.status, 200);
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("json");
        let mut ids: Vec<String> = v["features"]
            .as_array()
            .expect("features")
            .iter()
            .map(|f| f["id"].as_str().unwrap_or_default().to_string())
            .collect();
        ids.sort();
        ids
    }
}
