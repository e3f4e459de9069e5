//! Configuration precedence and checks: defaults → `ndx.toml` → `NDX_*` environment → flags,
//! unknown keys refused, the store URL from a file.

use std::path::Path;
use std::process::{Command, Output};

fn ndx(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ndx"));
    cmd.current_dir(dir).args(args).env("NDX_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run ndx")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn defaults_file_environment_and_flags_in_that_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // Default: ./ndx-data under the working directory.
    let o = ndx(d, &["dictionary", "code-lists"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.join("ndx-data/ndx.db").exists());
    // ndx.toml beats the default.
    std::fs::write(d.join("ndx.toml"), "data_dir = \"from-file\"\n").expect("toml");
    assert!(ndx(d, &["dictionary", "code-lists"], &[]).status.success());
    assert!(d.join("from-file/ndx.db").exists());
    // The environment beats the file.
    assert!(
        ndx(
            d,
            &["dictionary", "code-lists"],
            &[("NDX_DATA_DIR", "from-env")]
        )
        .status
        .success()
    );
    assert!(d.join("from-env/ndx.db").exists());
    // A flag beats the environment.
    let o = ndx(
        d,
        &["dictionary", "code-lists", "--data-dir", "from-flag"],
        &[("NDX_DATA_DIR", "from-env")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(d.join("from-flag/ndx.db").exists());
    // Other programs' NDX_* variables are not ours to refuse.
    let o = ndx(
        d,
        &["dictionary", "code-lists"],
        &[("NDX_TEST_SOMETHING", "x")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn unknown_and_invalid_settings_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("ndx.toml"), "data_dirr = \"x\"\n").expect("toml");
    let o = ndx(d, &["dictionary", "code-lists"], &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("data_dirr"), "{}", stderr(&o));
    std::fs::write(d.join("ndx.toml"), "log_format = \"xml\"\n").expect("toml");
    let o = ndx(d, &["dictionary", "code-lists"], &[]);
    assert!(stderr(&o).contains("log_format"), "{}", stderr(&o));
    std::fs::remove_file(d.join("ndx.toml")).expect("rm");
    let o = ndx(
        d,
        &["dictionary", "code-lists", "--config", "missing.toml"],
        &[],
    );
    assert!(stderr(&o).contains("missing.toml"), "{}", stderr(&o));
    let o = ndx(
        d,
        &["--store", "mysql://x", "dictionary", "code-lists"],
        &[],
    );
    assert!(
        stderr(&o).contains("unknown store scheme"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn store_url_from_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let db = d.join("elsewhere/custom.db");
    std::fs::write(d.join("store-url"), format!("sqlite://{}\n", db.display())).expect("url");
    let url_file = d.join("store-url");
    let url_file = url_file.to_str().expect("utf-8");
    let o = ndx(
        d,
        &["dictionary", "code-lists"],
        &[("NDX_STORE_FILE", url_file)],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(db.exists(), "the store named in the file was used");
    let o = ndx(
        d,
        &["dictionary", "code-lists"],
        &[("NDX_STORE_FILE", url_file), ("NDX_STORE", "sqlite://x.db")],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("either store or store_file"),
        "{}",
        stderr(&o)
    );
}
