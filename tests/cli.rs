//! The command line itself: `--version` names the commit, shell completions parse in
//! their shells, the manual pages render without a warning, and `ingot check` plans what
//! the build writes.

use crate::util::*;
use std::process::Command;

#[test]
fn version_names_the_git_commit_of_the_checkout() {
    let o = run(Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).current_dir(repo()));
    assert!(o.status.success(), "the tests run in a git checkout");
    let commit = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let o = run(ingot().arg("--version"));
    let version = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && version.starts_with("ingot 0.") && version.contains(&commit), "{version}");
}

/// `ingot completions SHELL` for bash, zsh and fish: each script parses in its shell
/// (`-n`) and completes the subcommands and a subcommand's flags.
#[test]
fn completions_parse_in_bash_zsh_and_fish() {
    let tmp = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let o = run(ingot().args(["completions", shell]));
        assert!(o.status.success(), "{shell}: {}", String::from_utf8_lossy(&o.stderr));
        let script = String::from_utf8_lossy(&o.stdout);
        assert!(script.contains("publish") && script.contains("no-digest"), "{shell}: completes subcommands and flags");
        let file = tmp.path().join(format!("ingot.{shell}"));
        std::fs::write(&file, &o.stdout).unwrap();
        let o = run(Command::new(shell).arg("-n").arg(&file));
        assert!(o.status.success() && o.stderr.is_empty(), "{shell} -n: {}", String::from_utf8_lossy(&o.stderr));
    }
    let o = run(ingot().args(["completions", "tcsh"]));
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("possible values"));
}

/// `ingot man DIR`: a page for ingot and one per subcommand, each rendered by man-db
/// (`man -l`, groff with warnings on) without a warning.
#[test]
fn man_pages_render_without_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("man1");
    let o = run(ingot().arg("man").arg(&dir));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut pages: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    pages.sort();
    for want in ["ingot.1", "ingot-build.1", "ingot-publish.1", "ingot-keys.1", "ingot-man.1"] {
        assert!(pages.iter().any(|p| p == want), "{want} in {pages:?}");
    }
    assert!(!pages.iter().any(|p| p == "ingot-help.1"), "no page for a help subcommand: {pages:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), pages.len(), "prints each page written");
    for page in &pages {
        let o = run(Command::new("man")
            .args(["--warnings", "-E", "UTF-8", "-l"])
            .arg(dir.join(page))
            .env("MANWIDTH", "80")
            .env("MAN_KEEP_FORMATTING", "0"));
        let (text, err) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        assert!(o.status.success() && err.is_empty(), "man -l {page}: {err}");
        // Bold and underline are overstruck ("N\bN"): read the text without them.
        let text = plain(&text);
        assert!(text.contains("NAME") && text.contains("SYNOPSIS"), "{page}: {text}");
    }
    let build = std::fs::read_to_string(dir.join("ingot-build.1")).unwrap();
    assert!(build.contains("no\\-digest") && build.contains("recipe"), "ingot-build.1 has build's options");
    // The synopsis names the command as typed, and a subcommand has no --version.
    assert!(build.contains("\\fBingot build\\fR") && !build.contains("\\-\\-version"), "{build}");
    let root = std::fs::read_to_string(dir.join("ingot.1")).unwrap();
    assert!(!root.contains("ingot\\-help"), "ingot.1 names no help page");
}

/// `text` without man's overstriking: a character followed by a backspace is dropped.
fn plain(text: &str) -> String {
    let mut out: Vec<char> = Vec::new();
    for c in text.chars() {
        if c == '\u{8}' {
            out.pop();
        } else {
            out.push(c);
        }
    }
    out.into_iter().collect()
}

/// `ingot check`: the plan of recipes/hello.toml is the layout the build then writes and
/// `ingot inspect` reads (offsets, sizes, PARTUUIDs, disk GUID, filesystem labels and
/// UUIDs), found without reading the sources: a source that is not a tar archive passes
/// check and fails the build. Nothing is written; a bad recipe fails at its key.
#[test]
fn check_prints_the_plan_the_build_then_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let plan = crate::util::aws::json(ingot().arg("check").arg(repo().join("recipes/hello.toml")).arg("--json"));
    let out = tmp.path().join("hello.raw");
    let report = build(&repo().join("recipes/hello.toml"), &out);
    let inspected = crate::util::aws::json(ingot().arg("inspect").arg(&out).arg("--json"));
    assert_eq!((&plan["disk_size"], &plan["disk_id"]), (&report["disk_size"], &report["disk_id"]));
    for n in 0..2 {
        let (p, r, i) = (&plan["partitions"][n], &report["partitions"][n], &inspected["partitions"][n]);
        assert_eq!((&p["offset"], &p["size"], &p["partuuid"]), (&r["offset"], &r["size"], &r["guid"]), "{n}");
        assert_eq!((&p["type"], &p["type_name"]), (&i["type"], &i["type_name"]), "{n}");
        let fs = &i["filesystem_info"];
        assert_eq!((&p["filesystem_label"], &p["filesystem_uuid"]), (&fs["label"], &fs["uuid"]), "{n}");
    }
    assert_eq!(
        plan["partitions"][0]["sources"][1],
        format!("file {} -> /motd.txt (0644 0:0)", repo().join("recipes/hello/motd").display())
    );

    // Sources are named, not read; sizes that depend on them are not known.
    std::fs::write(tmp.path().join("not.tar"), b"not a tar archive").unwrap();
    let text = "name = \"t\"\nsize = \"auto\"\n[[partition]]\ntype = \"linux\"\nsize = \"auto\"\nfilesystem = \"ext4\"\n[[partition.contents]]\ntar = \"not.tar\"\n";
    let r = recipe(tmp.path(), text);
    let before: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    let plan = crate::util::aws::json(ingot().arg("check").arg(&r).arg("--json"));
    assert!(plan["disk_size"].is_null() && plan["partitions"][0]["size"].is_null(), "{plan}");
    assert_eq!(plan["partitions"][0]["size_spec"], "auto");
    let after: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(before, after, "check writes nothing");
    let o = run(ingot().arg("check").arg(&r));
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && shown.contains("valid") && shown.contains("(from the content)"), "{shown}");
    let err = build_fails(&r, &tmp.path().join("t.raw"));
    assert!(err.contains("not.tar"), "the build reads it: {err}");

    let r = recipe(tmp.path(), &text.replace("type = \"linux\"", "type = \"lnux\""));
    let o = run(ingot().arg("check").arg(&r));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("recipe.toml:") && err.contains("partition[0].type"), "{err}");
}

/// `ingot schema` is docs/recipe.schema.json (the file editors read through the
/// `#:schema` line of recipes/), and every recipe in recipes/ and every TOML example in
/// docs/ and the README passes it with Python's jsonschema (in the test venv); the
/// examples that show one section are checked for their keys and types, not for the
/// keys a whole recipe must have. A wrong key fails it.
#[test]
fn the_recipe_schema_is_published_and_every_recipe_and_example_passes_it() {
    let o = run(ingot().arg("schema"));
    assert!(o.status.success());
    let published = std::fs::read_to_string(repo().join("docs/recipe.schema.json")).unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), published, "docs/recipe.schema.json is `ingot schema`'s output");
    let tmp = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(repo().join("recipes")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            assert!(std::fs::read_to_string(&path).unwrap().starts_with("#:schema ../docs/recipe.schema.json\n"));
            files.push((path, true));
        }
    }
    let mut docs: Vec<_> = std::fs::read_dir(repo().join("docs")).unwrap().map(|e| e.unwrap().path()).collect();
    docs.push(repo().join("README.md"));
    for doc in docs.iter().filter(|p| p.extension().is_some_and(|e| e == "md")) {
        let text = std::fs::read_to_string(doc).unwrap();
        for (i, block) in text.split("```toml\n").skip(1).enumerate() {
            let example = tmp.path().join(format!("{}-{i}.toml", doc.file_stem().unwrap().to_string_lossy()));
            std::fs::write(&example, &block[..block.find("```").unwrap()]).unwrap();
            files.push((example, false));
        }
    }
    assert!(files.len() > 5, "{files:?}");
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "name = \"x\"\n[[partition]]\ntype = \"esp\"\nsize = \"1 MiB\"\nfilesytem = \"vfat\"\n")
        .unwrap();
    let check = |files: &[(std::path::PathBuf, bool)]| {
        let mut cmd = Command::new(crate::util::aws::python());
        cmd.arg("-c").arg(SCHEMA_CHECK).arg(repo().join("docs/recipe.schema.json"));
        for (f, whole) in files {
            cmd.arg(format!("{}={}", if *whole { "whole" } else { "part" }, f.display()));
        }
        run(&mut cmd)
    };
    let o = check(&files);
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let o = check(&[(bad, true)]);
    let err = String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success() && err.contains("filesytem"), "{err}");
}

/// Validates TOML files against the schema: `whole=PATH` fully, `part=PATH` ignoring
/// the keys a whole recipe requires. Prints each failure; exits 1 if any.
const SCHEMA_CHECK: &str = r#"
import json, sys, tomllib, jsonschema
schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft202012Validator(schema)
failed = 0
for arg in sys.argv[2:]:
    kind, path = arg.split("=", 1)
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    for e in validator.iter_errors(doc):
        if kind == "part" and e.validator == "required":
            continue
        failed += 1
        print(f"{path}: {'/'.join(map(str, e.absolute_path))}: {e.message}")
sys.exit(1 if failed else 0)
"#;

/// On a terminal `ingot build` and `ingot upload` draw progress (the stage, the blocks
/// uploaded); with `--json`, or with stderr not a terminal, they draw none.
#[test]
fn progress_is_drawn_on_a_terminal_and_never_with_json_or_a_pipe() {
    let tmp = tempfile::tempdir().unwrap();
    crate::boot::guest_files(tmp.path());
    let text = crate::boot::RECIPE.replace("PAYLOAD", &payload("amd64", "boot/vmlinuz").display().to_string());
    let r = recipe(tmp.path(), &text);
    let out = tmp.path().join("p.raw");
    let shown = in_terminal("", ingot().arg("build").arg(&r).arg("-o").arg(&out));
    assert!(shown.contains("reading the content of partition") && shown.contains('\u{1b}'), "{shown}");
    let shown = in_terminal("", ingot().arg("build").arg(&r).arg("-o").arg(&out).arg("--json"));
    assert!(!shown.contains("reading the content") && !shown.contains('\u{1b}'), "{shown}");
    let o = run(ingot().arg("build").arg(&r).arg("-o").arg(&out));
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "a pipe gets no progress: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    let moto = crate::util::aws::Server::moto();
    let shown = in_terminal("", crate::util::aws::ingot_aws(&moto.endpoint()).arg("upload").arg(&out));
    assert!(shown.contains("uploading") && shown.contains("blocks"), "{shown}");
    let shown = in_terminal("", crate::util::aws::ingot_aws(&moto.endpoint()).arg("upload").arg(&out).arg("--json"));
    assert!(!shown.contains("uploading") && shown.contains("snapshot_id"), "{shown}");
}

/// `ingot check` applies the build's placement rules even when a size depends on the
/// content: a fixed start overlapping the previous partition, and fixed sizes larger
/// than the disk, are refused at their keys; the places that do not depend on the
/// content are printed.
#[test]
fn check_refuses_what_the_build_would_refuse_before_measuring_content() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("tree")).unwrap();
    let auto = "[[partition]]\ntype = \"linux\"\nsize = \"auto\"\nfilesystem = \"ext4\"\n[[partition.contents]]\ndir = \"tree\"\n";
    let first =
        "name = \"t\"\nsize = \"64 MiB\"\n[[partition]]\ntype = \"esp\"\nsize = \"8 MiB\"\nfilesystem = \"vfat\"\n";
    for (text, want) in [
        (
            format!("{first}{}", auto.replace("size = \"auto\"\n", "size = \"auto\"\nstart = \"4 MiB\"\n")),
            "partition[1].start",
        ),
        (format!("{}{auto}", first.replace("8 MiB", "80 MiB")), "size: the partitions need"),
    ] {
        let r = recipe(tmp.path(), &text);
        let o = run(ingot().arg("check").arg(&r));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "want {want:?}: {err}");
        let err = build_fails(&r, &tmp.path().join("t.raw"));
        assert!(err.contains(want), "the build says the same: {err}");
    }
    let plan =
        crate::util::aws::json(ingot().arg("check").arg(recipe(tmp.path(), &format!("{first}{auto}"))).arg("--json"));
    let parts = &plan["partitions"];
    assert_eq!(
        (&plan["disk_size"], &parts[0]["size"], &parts[1]["offset"]),
        (&(64u64 << 20).into(), &(8u64 << 20).into(), &(9u64 << 20).into())
    );
    assert!(parts[1]["size"].is_null(), "{plan}");
}
