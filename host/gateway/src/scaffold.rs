//! `pattern-engine new` scaffolds a library project in Rust, JavaScript,
//! Python or C (templates in `scaffold/`, embedded in the binary); `deploy <dir>`
//! builds such a project into a component with its language's toolchain.
//!
//! A project records its language, its name and its kit (the SDK directory,
//! `guest-sdk/<lang>` of a checkout) in [`PROJECT_FILE`]. JavaScript and
//! Python sources are staged into `build/src` with the kit's helper module
//! before building, because componentize-js only reads files below the
//! directory it builds in.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The file that marks a directory as a project and says how to build it.
pub const PROJECT_FILE: &str = "pattern.toml";

/// Longest project name: it becomes the library name, which the engine
/// caps at 64 characters (`host/runtime` limits).
const MAX_NAME_LEN: usize = 64;

/// Where JavaScript and Python builds stage their sources and write the
/// component.
const BUILD_DIR: &str = "build";

/// A guest language with a kit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Rust,
    Js,
    Python,
    C,
}

impl Lang {
    fn parse(s: &str) -> Result<Self> {
        match s {
            "rust" => Ok(Self::Rust),
            "js" => Ok(Self::Js),
            "python" => Ok(Self::Python),
            "c" => Ok(Self::C),
            other => bail!("unknown language '{other}': expected rust, js, python or c"),
        }
    }

    /// The kit's directory name under `guest-sdk/`, and a file it must hold.
    fn kit(self) -> (&'static str, &'static str) {
        match self {
            Self::Rust => ("rust", "Cargo.toml"),
            Self::Js => ("js", "build.mjs"),
            Self::Python => ("python", "pattern_engine.py"),
            Self::C => ("c", "include/pattern_guest.h"),
        }
    }

    /// The project's files: path, template.
    fn templates(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Rust => &[
                ("Cargo.toml", include_str!("scaffold/Cargo.toml.tmpl")),
                ("src/lib.rs", include_str!("scaffold/lib.rs.tmpl")),
            ],
            Self::Js => &[
                ("package.json", include_str!("scaffold/package.json.tmpl")),
                ("lib.js", include_str!("scaffold/lib.js.tmpl")),
                ("logic.js", include_str!("scaffold/logic.js.tmpl")),
                ("logic.test.js", include_str!("scaffold/logic.test.js.tmpl")),
            ],
            Self::Python => &[
                ("app.py", include_str!("scaffold/app.py.tmpl")),
                ("logic.py", include_str!("scaffold/logic.py.tmpl")),
                ("test_logic.py", include_str!("scaffold/test_logic.py.tmpl")),
            ],
            Self::C => &[
                ("lib.c", include_str!("scaffold/lib.c.tmpl")),
                ("logic.h", include_str!("scaffold/logic.h.tmpl")),
                ("logic.c", include_str!("scaffold/logic.c.tmpl")),
                ("test_logic.c", include_str!("scaffold/test_logic.c.tmpl")),
                ("Makefile", include_str!("scaffold/Makefile.tmpl")),
            ],
        }
    }

    /// The command that runs the project's own tests.
    fn test_command(self) -> &'static str {
        match self {
            Self::Rust => "cargo test",
            Self::Js => "node --test",
            Self::Python => "python3 -m unittest",
            Self::C => "make test",
        }
    }
}

/// The contents of [`PROJECT_FILE`].
#[derive(Debug, Serialize, Deserialize)]
pub struct Project {
    pub lang: Lang,
    pub name: String,
    /// The kit: an absolute path to `guest-sdk/<lang>`.
    pub sdk: PathBuf,
}

/// Refuses anything but a lowercase identifier: the name is at once the
/// directory, the library name, a crate name and a Python module name.
fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= MAX_NAME_LEN;
    if !valid {
        bail!("invalid project name '{name}': use 1 to {MAX_NAME_LEN} characters of [a-z0-9_], starting with a letter");
    }
    Ok(())
}

/// The kit of `lang`: `sdk` if given, else this checkout's `guest-sdk/<lang>`.
fn find_kit(lang: Lang, sdk: Option<&Path>) -> Result<PathBuf> {
    let (dir, marker) = lang.kit();
    let kit = match sdk {
        Some(sdk) => sdk.to_path_buf(),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../guest-sdk")
            .join(dir),
    };
    let kit = kit
        .canonicalize()
        .ok()
        .filter(|k| k.join(marker).is_file())
        .with_context(|| {
            format!(
                "no {dir} kit at {} (no {marker} there): pass --sdk <path to guest-sdk/{dir}>",
                kit.display()
            )
        })?;
    Ok(kit)
}

/// `pattern-engine new`: creates `<parent>/<name>` as a project of `lang`;
/// on any error nothing is left behind.
pub fn create(lang: &str, name: &str, sdk: Option<&Path>, parent: &Path) -> Result<PathBuf> {
    let lang = Lang::parse(lang)?;
    check_name(name)?;
    let sdk = find_kit(lang, sdk)?;
    let dir = parent.join(name);
    if dir.exists() {
        bail!("{} already exists", dir.display());
    }
    let project = Project {
        lang,
        name: name.to_string(),
        sdk,
    };
    let written = write_project(&dir, &project);
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    written?;
    println!(
        "created {} ({} library '{name}')\n  test:   cd {} && {}\n  deploy: pattern-engine deploy {}",
        dir.display(),
        lang.kit().0,
        dir.display(),
        lang.test_command(),
        dir.display()
    );
    Ok(dir)
}

fn write_project(dir: &Path, project: &Project) -> Result<()> {
    let sdk = project
        .sdk
        .to_str()
        .context("the kit's path is not UTF-8")?;
    // A TOML string literal, escaped.
    let sdk_toml = toml::Value::String(sdk.to_string()).to_string();
    for (path, template) in project.lang.templates() {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap_or(dir))?;
        let text = template
            .replace("__NAME__", &project.name)
            .replace("__SDK__", &sdk_toml);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if project.lang == Lang::Js {
        // For editors and node: the kit's modules as ./sdk.
        std::os::unix::fs::symlink(project.sdk.join("src"), dir.join("sdk"))?;
    }
    std::fs::write(dir.join(PROJECT_FILE), toml::to_string(project)?)?;
    std::fs::write(dir.join(".gitignore"), "/target\n/build\n")?;
    Ok(())
}

/// Reads the project of `dir`.
pub fn load(dir: &Path) -> Result<Project> {
    let file = dir.join(PROJECT_FILE);
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "{} is not a project: no {PROJECT_FILE} (create one with `pattern-engine new`, or deploy a .wasm file)",
            dir.display()
        )
    })?;
    let project: Project =
        toml::from_str(&text).with_context(|| format!("reading {}", file.display()))?;
    check_name(&project.name)?;
    Ok(project)
}

/// `pattern-engine deploy <dir>`: builds the project of `dir` with its
/// toolchain; returns its name and the component's path.
pub fn build(dir: &Path) -> Result<(String, PathBuf)> {
    let project = load(dir)?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("reading {}", dir.display()))?;
    let wit = project.sdk.join("../../wit");
    let out = match project.lang {
        Lang::Rust => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(|t| dir.join(t))
                .unwrap_or_else(|| dir.join("target"));
            let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or("cargo".into()));
            cmd.args(["build", "--release", "--target", "wasm32-unknown-unknown"])
                .arg("--target-dir")
                .arg(&target)
                .current_dir(&dir);
            run(cmd)?;
            let module = target
                .join("wasm32-unknown-unknown/release")
                .join(format!("{}.wasm", project.name));
            let out = target.join(format!("{}.wasm", project.name));
            crate::componentize::componentize_file(&module, &out)?;
            out
        }
        Lang::Js => {
            let src = stage(&dir, "js")?;
            copy_sources(&project.sdk.join("src"), &src.join("sdk"), "js")?;
            let out = dir.join(BUILD_DIR).join(format!("{}.wasm", project.name));
            let mut cmd = Command::new("node");
            cmd.arg(project.sdk.join("build.mjs"))
                .args(["lib.js"])
                .arg(&out)
                .arg("--wit")
                .arg(&wit)
                .current_dir(&src);
            run(cmd)?;
            out
        }
        Lang::Python => {
            let src = stage(&dir, "py")?;
            let out = dir.join(BUILD_DIR).join(format!("{}.wasm", project.name));
            let mut cmd = Command::new(project.sdk.join(".venv/bin/componentize-py"));
            cmd.arg("-d")
                .arg(&wit)
                .args(["-w", "pattern", "componentize", "-p"])
                .arg(&project.sdk)
                .arg("-p")
                .arg(&src)
                .arg("app")
                .arg("-o")
                .arg(&out);
            run(cmd)?;
            out
        }
        Lang::C => {
            let build = dir.join(BUILD_DIR);
            let out = build.join(format!("{}.wasm", project.name));
            let sources = sources(&dir, "c")?;
            if sources.is_empty() {
                bail!("{} has no .c file to build", dir.display());
            }
            eprintln!("building: clang (C kit {})", project.sdk.display());
            crate::c_guest::build(&project.sdk, &sources, &wit, &build, &out)?;
            out
        }
    };
    Ok((project.name, out))
}

/// Copies the project's sources (not its tests) into a fresh `build/src`.
fn stage(dir: &Path, ext: &str) -> Result<PathBuf> {
    let src = dir.join(BUILD_DIR).join("src");
    if src.exists() {
        std::fs::remove_dir_all(&src)?;
    }
    copy_sources(dir, &src, ext)?;
    Ok(src)
}

/// Copies the library's sources of `from` (see [`sources`]) into `to`.
fn copy_sources(from: &Path, to: &Path, ext: &str) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for path in sources(from, ext)? {
        let name = path.file_name().context("a source has no name")?;
        std::fs::copy(&path, to.join(name))
            .with_context(|| format!("copying {}", path.display()))?;
    }
    Ok(())
}

/// The regular `*.<ext>` files of `dir` but tests (`test_*.py`, `test_*.c`,
/// `*.test.js`), sorted.
fn sources(dir: &Path, ext: &str) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let wanted = path.is_file()
            && path.extension().is_some_and(|e| e == ext)
            && !name.starts_with("test_")
            && !name.ends_with(".test.js");
        if wanted {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

fn run(mut cmd: Command) -> Result<()> {
    eprintln!("building: {cmd:?}");
    let status = cmd.status().with_context(|| {
        format!(
            "cannot run {:?} (is its toolchain installed?)",
            cmd.get_program()
        )
    })?;
    if !status.success() {
        bail!("the build failed ({status})");
    }
    Ok(())
}
