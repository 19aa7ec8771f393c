//! [`TokenCacheFile`]: the signed-in accounts of a CLI or desktop tool on disk, as documented
//! JSON, written atomically with owner-only permissions.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::secret::SecretString;
use crate::Error;

/// The version of the file format this crate writes and reads.
pub(crate) const TOKEN_CACHE_FILE_VERSION: u32 = 1;
/// A token-cache file larger than this is refused as corrupted.
const MAX_FILE: u64 = 4 << 20;
/// The latest time a file may name (9999-12-31T23:59:59Z, in Unix seconds): a larger
/// `expires_on`, `refresh_on` or `signed_in_at` is a corrupted file.
const MAX_UNIX_SECONDS: u64 = 253_402_300_799;

/// A file that keeps signed-in users' tokens between runs of a program (the `entra` CLI's
/// `entra login` / `entra token --user`).
///
/// **The file holds refresh tokens: whoever can read it can get tokens as the user for up to 90
/// days. Treat it like a password.** It is created with permissions `0600` (owner read and write
/// only) on Unix, in a directory created `0700`; it is rewritten whole through a temporary file
/// in the same directory and a rename, so a reader never sees half a file. On other platforms
/// it gets the permissions of the user's directory it is in.
///
/// # Format (version 1)
///
/// ```json
/// {
///   "version": 1,
///   "accounts": [
///     {
///       "authority": "https://login.microsoftonline.com",
///       "tenant": "contoso.onmicrosoft.com",
///       "client_id": "11111111-2222-3333-4444-555555555555",
///       "home_account_id": "{oid}.{tid}",
///       "object_id": "{oid}",
///       "tenant_id": "{tid}",
///       "username": "adele@contoso.onmicrosoft.com",
///       "signed_in_at": 1767225600,
///       "refresh_token": "1.AQ...",
///       "scopes": ["api://my-api/Files.Read"],
///       "access_tokens": [
///         {"scopes": ["api://my-api/Files.Read"], "access_token": "eyJ...",
///          "expires_on": 1767229200, "refresh_on": 1767228900}
///       ]
///     }
///   ]
/// }
/// ```
///
/// - `authority`, `tenant`, `client_id`: what the app was configured with; an account is used
///   only by a [`UserCredential`](crate::UserCredential) with the same three.
/// - `home_account_id` (`client_info`'s `uid.utid`, else `oid.tid` from the ID token),
///   `object_id`, `tenant_id`, `username` (`preferred_username`): who signed in.
/// - `signed_in_at`, `expires_on`, `refresh_on`: Unix seconds.
/// - `refresh_token`: absent or `null` once Entra refused it (sign in again).
/// - `scopes`: the scopes asked for at sign-in, without `openid profile offline_access`;
///   `access_tokens[].scopes` likewise, sorted.
///
/// - `scopes`: also [`Account::scopes`](crate::Account::scopes), e.g. the scopes a tool asks
///   for when its user names none.
///
/// Several programs may use one file (as `entra` invocations do): the file is read on first use,
/// and again before each refresh, and when another program has stored newer tokens for the
/// account meanwhile (Entra rotates the refresh token at each use), those are taken instead of
/// the ones read earlier. Each change (read, modify, write) holds an advisory lock on the sibling
/// file `{name}.lock` (e.g. `tokens.json.lock`, created `0600` and left in place), so two
/// programs saving at once do not lose each other's accounts; on Unix the directory is synced
/// after the rename. Two programs refreshing the same account at the same instant still each
/// send a refresh token (the lock is not held over the network); the later save wins.
///
/// Unknown fields are ignored. A file that does not parse, has another `version`, or names a
/// time past the year 9999 is an [`Error::TokenCacheFile`] for silent use (nothing is sent
/// anywhere); a new sign-in replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenCacheFile {
    path: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct FileContents {
    pub(crate) version: u32,
    #[serde(default)]
    pub(crate) accounts: Vec<StoredAccount>,
}

/// One signed-in account, as stored (and as held in memory).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredAccount {
    pub(crate) authority: String,
    pub(crate) tenant: String,
    pub(crate) client_id: String,
    pub(crate) home_account_id: String,
    #[serde(default)]
    pub(crate) object_id: Option<String>,
    #[serde(default)]
    pub(crate) tenant_id: Option<String>,
    #[serde(default)]
    pub(crate) username: Option<String>,
    #[serde(default)]
    pub(crate) signed_in_at: u64,
    #[serde(default)]
    pub(crate) refresh_token: Option<SecretString>,
    #[serde(default)]
    pub(crate) scopes: Vec<String>,
    #[serde(default)]
    pub(crate) access_tokens: Vec<StoredAccessToken>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredAccessToken {
    pub(crate) scopes: Vec<String>,
    pub(crate) access_token: SecretString,
    pub(crate) expires_on: u64,
    #[serde(default)]
    pub(crate) refresh_on: Option<u64>,
}

impl StoredAccount {
    pub(crate) fn same_app(&self, authority: &str, tenant: &str, client_id: &str) -> bool {
        self.authority == authority
            && self.tenant.eq_ignore_ascii_case(tenant)
            && self.client_id.eq_ignore_ascii_case(client_id)
    }
}

impl TokenCacheFile {
    /// The file at `path` (created on the first sign-in).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        TokenCacheFile { path: path.into() }
    }

    /// The default location: `$XDG_CACHE_HOME/entra/tokens.json`, else
    /// `$HOME/.cache/entra/tokens.json` (Unix), else `%LOCALAPPDATA%\entra\tokens.json`
    /// (Windows). `None` when none of these variables is set.
    pub fn default_path() -> Option<PathBuf> {
        let non_empty = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty());
        let base = non_empty("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| non_empty("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .or_else(|| non_empty("LOCALAPPDATA").map(PathBuf::from))?;
        Some(base.join("entra").join("tokens.json"))
    }

    /// The path of the file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes the file (signs every account out), under its lock (the lock file stays). No
    /// error if it does not exist.
    pub fn remove(&self) -> Result<(), Error> {
        let _lock = if self.dir().is_dir() {
            Some(self.lock()?)
        } else {
            None
        };
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.error("cannot delete", &e)),
        }
    }

    fn error(&self, what: &str, e: &dyn std::fmt::Display) -> Error {
        Error::TokenCacheFile(format!("{what} {}: {e}", self.path.display()))
    }

    /// The file's contents; empty when it does not exist.
    pub(crate) fn load(&self) -> Result<FileContents, Error> {
        let file = match fs::File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(FileContents {
                    version: TOKEN_CACHE_FILE_VERSION,
                    accounts: Vec::new(),
                });
            }
            Err(e) => return Err(self.error("cannot read", &e)),
        };
        let mut bytes = zeroize::Zeroizing::new(Vec::new());
        std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_FILE + 1), &mut bytes)
            .map_err(|e| self.error("cannot read", &e))?;
        if bytes.len() as u64 > MAX_FILE {
            return Err(self.corrupted(&format!("larger than {MAX_FILE} bytes")));
        }
        // serde_json's messages name a position, never the text, so no token is echoed.
        let contents: FileContents = serde_json::from_slice(&bytes).map_err(|e| {
            self.corrupted(&format!(
                "not a token cache (JSON error at line {} column {})",
                e.line(),
                e.column()
            ))
        })?;
        if contents.version != TOKEN_CACHE_FILE_VERSION {
            return Err(self.corrupted(&format!(
                "version {} (this program reads version {TOKEN_CACHE_FILE_VERSION})",
                contents.version
            )));
        }
        let out_of_range = contents.accounts.iter().any(|a| {
            a.signed_in_at > MAX_UNIX_SECONDS
                || a.access_tokens.iter().any(|t| {
                    t.expires_on > MAX_UNIX_SECONDS
                        || t.refresh_on.is_some_and(|r| r > MAX_UNIX_SECONDS)
                })
        });
        if out_of_range {
            return Err(self.corrupted("a time is out of range"));
        }
        Ok(contents)
    }

    /// Reads, changes and writes the file under its lock (see the type's documentation): the
    /// change runs on the contents as they are now, so another program's accounts saved since
    /// this one read the file are kept. A corrupted file is an error, or replaced by an empty
    /// one when `replace_corrupted`.
    pub(crate) fn update(
        &self,
        replace_corrupted: bool,
        change: impl FnOnce(&mut FileContents),
    ) -> Result<(), Error> {
        let _lock = self.lock()?;
        let mut contents = match self.load() {
            Ok(contents) => contents,
            Err(e) if replace_corrupted => {
                tracing::warn!(error = %e, "replacing the unusable token cache file");
                FileContents::default()
            }
            Err(e) => return Err(e),
        };
        contents.version = TOKEN_CACHE_FILE_VERSION;
        change(&mut contents);
        self.save(&contents)
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "tokens.json".into())
    }

    /// Takes the exclusive advisory lock on `{name}.lock` (blocking); released when the file
    /// handle is dropped.
    fn lock(&self) -> Result<fs::File, Error> {
        let dir = self.dir();
        create_private_dir(&dir).map_err(|e| self.error("cannot create the directory of", &e))?;
        let path = dir.join(format!("{}.lock", self.file_name()));
        let file = open_lock_file(&path).map_err(|e| self.error("cannot open the lock of", &e))?;
        file.lock().map_err(|e| self.error("cannot lock", &e))?;
        Ok(file)
    }

    fn corrupted(&self, why: &str) -> Error {
        Error::TokenCacheFile(format!(
            "{} is unusable: {why}; sign in again to replace it",
            self.path.display()
        ))
    }

    /// Writes `contents`: a temporary file (0600) in the same directory, synced, then renamed
    /// over the file.
    pub(crate) fn save(&self, contents: &FileContents) -> Result<(), Error> {
        let dir = self.dir();
        create_private_dir(&dir).map_err(|e| self.error("cannot create the directory of", &e))?;
        let json = zeroize::Zeroizing::new(
            serde_json::to_vec_pretty(contents).map_err(|e| self.error("cannot serialize", &e))?,
        );
        let name = self.file_name();
        let tmp = dir.join(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
        let result = (|| {
            let mut file = create_private_file(&tmp)?;
            file.write_all(&json)?;
            file.sync_all()?;
            drop(file);
            fs::rename(&tmp, &self.path)
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(self.error("cannot write", &e));
        }
        sync_dir(&dir);
        Ok(())
    }
}

/// Makes the rename durable. Best effort: some file systems refuse to sync a directory.
#[cfg(unix)]
fn sync_dir(dir: &Path) {
    if let Err(e) = fs::File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(error = %e, "cannot sync the token cache directory");
    }
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) {}

#[cfg(unix)]
fn open_lock_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_lock_file(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}
