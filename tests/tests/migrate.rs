//! `tessera migrate`: a data directory's annotations (with their history, reviews and
//! audits), users, projects and assignments move into PostgreSQL, and everything reads
//! back the same from there.

use tessera_e2e::world::{PROJECT, SLIDE, World, world};
use tessera_e2e::{Server, tessera, tessera_ok};

#[test]
fn migrate_moves_a_data_directory_into_postgres_whole() {
    if tessera_e2e::store_for(std::path::Path::new(".")).is_some() {
        eprintln!("the suites run on PostgreSQL: nothing to migrate from");
        return;
    }
    let Some(url) = tessera_e2e::fresh_postgres_database("migrate") else {
        return;
    };
    let w = world(false);
    let (id, audit) = fill(&w);
    let history = |server: &Server| {
        let token = format!("Bearer {}", w.tokens["adm"]);
        let r = server.get_with(
            &format!("/api/annotations/{id}/history"),
            &[("Authorization", &token)],
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.text()
    };
    let assignment = |server: &Server| {
        let token = format!("Bearer {}", w.tokens["ann"]);
        let r = server.get_with(
            &format!("/api/slides/{SLIDE}/assignment"),
            &[("Authorization", &token)],
        );
        assert_eq!(r.status, 200, "{}", r.text());
        r.text()
    };
    let history_before = history(&w.server);
    let assignment_before = assignment(&w.server);
    let export = |name: &str, store: &[&dyn AsRef<std::ffi::OsStr>]| {
        let out = w.dir.path().join(name);
        let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> =
            vec![&"export", &"--data", &w.data, &SLIDE, &"-o", &out];
        args.extend_from_slice(store);
        tessera_ok(&args);
        std::fs::read_to_string(&out).expect("the export")
    };
    let listings = |store: &[&dyn AsRef<std::ffi::OsStr>]| {
        let mut all = String::new();
        for what in [
            &["user", "list"][..],
            &["project", "show", PROJECT],
            &["audit", "list"],
        ] {
            let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = what
                .iter()
                .map(|a| a as &dyn AsRef<std::ffi::OsStr>)
                .collect();
            args.extend([&"--data" as &dyn AsRef<std::ffi::OsStr>, &w.data]);
            args.extend_from_slice(store);
            all.push_str(&tessera_ok(&args));
        }
        all
    };
    let export_before = export("before.geojson", &[]);
    let listed_before = listings(&[]);
    assert!(
        listed_before.contains(&audit.to_string()),
        "{listed_before}"
    );

    let moved = tessera_ok(&[&"migrate", &"--from", &w.data, &"--to", &url]);
    assert!(
        moved.contains("annotations on 1 slide, 7 users and 2 projects"),
        "{moved}"
    );

    let on_postgres: [&dyn AsRef<std::ffi::OsStr>; 2] = [&"--store", &url];
    assert_eq!(export("after.geojson", &on_postgres), export_before);
    assert_eq!(listings(&on_postgres), listed_before);
    let server = Server::start(&w.data, &["--store", &url]);
    // The same tokens sign in there: users and their hashed tokens moved.
    assert_eq!(history(&server), history_before);
    assert_eq!(assignment(&server), assignment_before);

    // A database that already holds a store is refused, and keeps what it holds.
    let again = tessera(&[&"migrate", &"--from", &w.data, &"--to", &url]);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        !again.status.success() && err.contains("already holds"),
        "{err}"
    );
    assert_eq!(export("again.geojson", &on_postgres), export_before);
}

#[test]
fn migrate_names_what_it_cannot_move() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = tessera(&[
        &"migrate",
        &"--from",
        &dir.path(),
        &"--to",
        &"postgres://127.0.0.1:1/x",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no annotations.db or access.db to migrate"),
        "{err}"
    );
    let out = tessera(&[&"migrate", &"--from", &dir.path(), &"--to", &dir.path()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("expected a postgres:// address"),
        "{err}"
    );
}

/// Annotations with a review history, an audit, an import of cells and an assignment:
/// returns the reviewed annotation's id and the audit's.
fn fill(w: &World) -> (String, u64) {
    let (id, _) = w.create("ann", 100.0);
    w.create("ann", 300.0);
    assert_eq!(w.review("ann", &id, "submitted").status, 200);
    assert_eq!(w.review("rev", &id, "reviewed").status, 200);
    let (audit, _) = w.audit();
    let cells = w.dir.path().join("cells.geojson");
    tessera_ok(&[
        &"synth-cells",
        &"--width",
        &"1024",
        &"--height",
        &"768",
        &"-o",
        &cells,
    ]);
    // The project's schema has no lymphocytes.
    let map = w.dir.path().join("classes.csv");
    std::fs::write(&map, "Lymphocyte,Stroma\n").expect("class map");
    tessera_ok(&[
        &"import",
        &"--data",
        &w.data,
        &SLIDE,
        &cells,
        &"--layer",
        &"cells",
        &"--map-classes",
        &map,
    ]);
    tessera_ok(&[
        &"assign",
        &PROJECT,
        &SLIDE,
        &"--annotator",
        &"ann",
        &"--reviewer",
        &"rev",
        &"--data",
        &w.data,
    ]);
    (id, audit)
}
