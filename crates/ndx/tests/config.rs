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

/// `ndx dictionary` on the store the settings name: it refuses a directory without a store
/// (naming the path it looked at, exit code 4) and creates nothing, so the message shows which
/// setting won.
fn looks_at(d: &Path, args: &[&str], env: &[(&str, &str)], store: &str) {
    let o = ndx(d, args, env);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let want = format!("no ndx store at {store}");
    assert!(stderr(&o).contains(&want), "{want}: {}", stderr(&o));
    let dir = Path::new(store).parent().expect("dir");
    assert!(!d.join(dir).exists(), "{} was created", dir.display());
}

#[test]
fn defaults_file_environment_and_flags_in_that_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // Default: ./ndx-data under the working directory.
    looks_at(d, &["dictionary", "code-lists"], &[], "ndx-data/ndx.db");
    // ndx.toml beats the default.
    std::fs::write(d.join("ndx.toml"), "data_dir = \"from-file\"\n").expect("toml");
    looks_at(d, &["dictionary", "code-lists"], &[], "from-file/ndx.db");
    // The environment beats the file.
    looks_at(
        d,
        &["dictionary", "code-lists"],
        &[("NDX_DATA_DIR", "from-env")],
        "from-env/ndx.db",
    );
    // A flag beats the environment.
    looks_at(
        d,
        &["dictionary", "code-lists", "--data-dir", "from-flag"],
        &[("NDX_DATA_DIR", "from-env")],
        "from-flag/ndx.db",
    );
    // Other programs' NDX_* variables are not ours to refuse.
    looks_at(
        d,
        &["dictionary", "code-lists"],
        &[("NDX_TEST_SOMETHING", "x")],
        "from-file/ndx.db",
    );
}

/// A mistyped `--data-dir` is refused by every command that works on an existing store,
/// instead of a new empty store (or new keys) being made there.
#[test]
fn commands_on_an_existing_store_refuse_a_directory_without_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("people.csv"), "citizen_id\n001090000001\n").expect("csv");
    for args in [
        &["dictionary", "export"][..],
        &["dictionary", "datasets"],
        &["import", "people.csv", "--dataset", "population"],
        &["keys", "issue", "--system", "NDC-OPS", "--role", "operator"],
        &["audit", "verify"],
    ] {
        let mut all = args.to_vec();
        all.extend(["--data-dir", "mistyped"]);
        let o = ndx(d, &all, &[]);
        assert_eq!(o.status.code(), Some(4), "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("no ndx store at mistyped/ndx.db"),
            "{args:?}: {}",
            stderr(&o)
        );
        assert!(
            !d.join("mistyped").exists(),
            "{args:?} created the directory"
        );
    }
    let o = ndx(d, &["audit", "public-key", "--data-dir", "mistyped"], &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("audit-signing.key") && stderr(&o).contains("is missing"),
        "{}",
        stderr(&o)
    );
    assert!(
        !d.join("mistyped").exists(),
        "public-key created the directory"
    );
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
        &["dictionary", "code-lists"],
        &[("NDX_OPERATOR", "bca; drop")],
    );
    assert!(
        stderr(&o).contains("operator: \"bca; drop\" is not a member code"),
        "{}",
        stderr(&o)
    );
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
    assert!(
        stderr(&o).contains(&format!("no ndx store at {}", db.display())),
        "the store named in the file was used: {}",
        stderr(&o)
    );
    assert!(!db.exists(), "the dictionary command created a store");
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
