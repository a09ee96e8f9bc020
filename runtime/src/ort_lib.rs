//! Finding the ONNX Runtime shared library, and loading it once per process.
//!
//! ANH does not link ONNX Runtime: `ort` loads it at run time (`load-dynamic`), from the
//! official PyPI wheel that `scripts/setup-ort.sh` (run by `./dev setup`) unpacks into a cache
//! folder. [`find_ort_library`] says where the library is; the first [`crate::OrtRuntime`]
//! loads it and creates the process's one ONNX Runtime environment, which every later runtime
//! shares.

use crate::error::{Result, RuntimeError};
use parking_lot::Mutex;
use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    sync::OnceLock,
};

/// The ONNX Runtime version ANH is built and tested against.
pub const ORT_VERSION: &str = "1.31.1";

/// Environment variable naming the library file; overrides every other place.
pub const ORT_DYLIB_ENV: &str = "ANH_ORT_DYLIB";

/// `ort`'s own variable for the library file; used when [`ORT_DYLIB_ENV`] is not set.
pub const ORT_DYLIB_PATH_ENV: &str = "ORT_DYLIB_PATH";

/// Environment variable overriding the cache folder (`$HOME/.cache/anh` by default).
pub const CACHE_DIR_ENV: &str = "ANH_CACHE_DIR";

/// The folder where ANH's set-up scripts put ONNX Runtime and the Python test tools:
/// `$ANH_CACHE_DIR` if set, else `$HOME/.cache/anh`.
pub fn cache_dir() -> PathBuf {
    cache_dir_with(&|var| std::env::var_os(var))
}

/// An environment variable's value, non-empty.
type Env<'e> = &'e dyn Fn(&str) -> Option<OsString>;

fn cache_dir_with(env: Env<'_>) -> PathBuf {
    if let Some(dir) = env(CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = env("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(std::env::home_dir)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("anh")
}

/// The file name of the library inside the wheel and the cache.
fn library_file_name() -> String {
    format!("libonnxruntime.so.{ORT_VERSION}")
}

/// Where the ONNX Runtime library is.
///
/// In order: `$ANH_ORT_DYLIB`, then `$ORT_DYLIB_PATH` (an error if the file named does not
/// exist), then the cache folder of `scripts/setup-ort.sh`: with the `cuda` feature,
/// `onnxruntime-gpu-1.31.1/` first, then `onnxruntime-1.31.1/`. When there is none, the error
/// says what to run.
pub fn find_ort_library() -> Result<PathBuf> {
    find_ort_library_with(&|var| std::env::var_os(var))
}

fn find_ort_library_with(env: Env<'_>) -> Result<PathBuf> {
    for var in [ORT_DYLIB_ENV, ORT_DYLIB_PATH_ENV] {
        if let Some(value) = env(var).filter(|v| !v.is_empty()) {
            let path = PathBuf::from(value);
            return if path.is_file() {
                Ok(path)
            } else {
                Err(RuntimeError::OrtPathMissing { var, path })
            };
        }
    }
    let dir = cache_dir_with(env);
    let mut folders = Vec::with_capacity(2);
    if cfg!(feature = "cuda") {
        folders.push(format!("onnxruntime-gpu-{ORT_VERSION}"));
    }
    folders.push(format!("onnxruntime-{ORT_VERSION}"));
    folders
        .iter()
        .map(|folder| dir.join(folder).join(library_file_name()))
        .find(|lib| lib.is_file())
        .ok_or(RuntimeError::OrtNotFound { looked_in: dir })
}

/// The loaded library and the process's environment.
struct Loaded {
    path: PathBuf,
    environment: ort::environment::Environment,
}

static LOADED: OnceLock<Loaded> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

/// Loads ONNX Runtime from `path` and creates the process's environment, once; later calls
/// return it, whatever path they name (the first library loaded stays for the process's
/// life). Failures are returned, and a later call may try again.
pub(crate) fn environment(path: &Path) -> Result<&'static ort::environment::Environment> {
    if let Some(loaded) = LOADED.get() {
        warn_if_other(loaded, path);
        return Ok(&loaded.environment);
    }
    let _guard = LOADING.lock();
    if let Some(loaded) = LOADED.get() {
        warn_if_other(loaded, path);
        return Ok(&loaded.environment);
    }
    let load_error = |message: String| RuntimeError::OrtLoad { path: path.to_path_buf(), message };
    // `ort` resolves relative paths against the executable's folder, panicking if it has
    // none; an absolute path sidesteps that.
    let absolute = std::path::absolute(path).map_err(|e| load_error(e.to_string()))?;
    let builder = ort::init_from(&absolute).map_err(|e| load_error(e.to_string()))?;
    let environment = builder
        .with_name("anh")
        .with_telemetry(false)
        .build()
        .map_err(|e| load_error(e.to_string()))?;
    // ONNX Runtime's own log goes to `tracing` (target `ort`); its INFO level narrates every
    // graph transformation of every session, so only warnings and errors are let through.
    environment.set_log_level(ort::logging::LogLevel::Warning);
    tracing::info!(path = %path.display(), "loaded ONNX Runtime");
    Ok(&LOADED.get_or_init(|| Loaded { path: path.to_path_buf(), environment }).environment)
}

fn warn_if_other(loaded: &Loaded, path: &Path) {
    if loaded.path != path {
        tracing::warn!(
            loaded = %loaded.path.display(),
            asked = %path.display(),
            "ONNX Runtime is already loaded from another file; keeping it"
        );
    }
}

/// The process's ONNX Runtime environment (loading the library [`find_ort_library`] finds,
/// if not yet loaded): for tools and benchmarks that build `ort` sessions directly.
pub fn ort_environment() -> Result<&'static ort::environment::Environment> {
    match LOADED.get() {
        Some(loaded) => Ok(&loaded.environment),
        None => environment(&find_ort_library()?),
    }
}

/// Loads ONNX Runtime from `path` now (see [`crate::OrtRuntime::new`], which does this
/// itself): useful to fail fast at start-up.
pub fn init_ort(path: &Path) -> Result<()> {
    environment(path).map(|_| ())
}

/// The library this process loaded, if it loaded one.
pub fn loaded_ort_library() -> Option<&'static Path> {
    LOADED.get().map(|l| l.path.as_path())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &Path)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: HashMap<String, OsString> =
            vars.iter().map(|(k, v)| ((*k).to_owned(), v.as_os_str().to_owned())).collect();
        move |var| vars.get(var).cloned()
    }

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(path, b"").expect("write");
    }

    /// `ANH_ORT_DYLIB` wins over `ORT_DYLIB_PATH` and over the cache.
    #[test]
    fn anh_variable_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (a, b) = (dir.path().join("a.so"), dir.path().join("b.so"));
        touch(&a);
        touch(&b);
        let found = find_ort_library_with(&env(&[(ORT_DYLIB_ENV, &a), (ORT_DYLIB_PATH_ENV, &b)]))
            .expect("found");
        assert_eq!(found, a);
        let found = find_ort_library_with(&env(&[(ORT_DYLIB_PATH_ENV, &b)])).expect("found");
        assert_eq!(found, b);
    }

    /// A variable naming a missing file is an error naming the variable, not a silent fallback.
    #[test]
    fn variable_naming_missing_file_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.so");
        let e = find_ort_library_with(&env(&[(ORT_DYLIB_ENV, &missing)])).unwrap_err();
        assert!(matches!(e, RuntimeError::OrtPathMissing { var: ORT_DYLIB_ENV, .. }), "{e}");
        assert!(e.to_string().starts_with("ANH_ORT_DYLIB is set to "), "{e}");
    }

    /// Without variables the cache folder is searched, and its absence says what to run.
    #[test]
    fn cache_folder_and_setup_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = find_ort_library_with(&env(&[(CACHE_DIR_ENV, dir.path())])).unwrap_err();
        assert!(matches!(&e, RuntimeError::OrtNotFound { looked_in } if looked_in == dir.path()));
        assert_eq!(
            e.to_string(),
            "ONNX Runtime 1.31.1 not found: run `./dev setup` (or set ANH_ORT_DYLIB to the path of libonnxruntime.so)"
        );
        let lib = dir.path().join("onnxruntime-1.31.1").join("libonnxruntime.so.1.31.1");
        touch(&lib);
        assert_eq!(
            find_ort_library_with(&env(&[(CACHE_DIR_ENV, dir.path())])).expect("found"),
            lib
        );
    }

    /// A file that is not a loadable library is an error naming it, not a panic, and a later
    /// call may still succeed. (The library is loaded once per process: no other unit test
    /// loads it, so this one sees the first attempts.)
    #[test]
    fn unloadable_library_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("libonnxruntime.so.1.31.1");
        let e = init_ort(&missing).unwrap_err();
        assert!(matches!(&e, RuntimeError::OrtLoad { path, .. } if *path == missing), "{e}");
        assert!(e.to_string().starts_with("failed to load ONNX Runtime from "), "{e}");
        let garbage = dir.path().join("garbage.so");
        std::fs::write(&garbage, b"not a shared library").expect("write");
        assert!(matches!(init_ort(&garbage), Err(RuntimeError::OrtLoad { .. })));
        assert_eq!(loaded_ort_library(), None);
    }

    /// `$HOME/.cache/anh` is the default cache folder.
    #[test]
    fn default_cache_dir_is_under_home() {
        let home = Path::new("/home/someone");
        assert_eq!(cache_dir_with(&env(&[("HOME", home)])), home.join(".cache/anh"));
    }
}
