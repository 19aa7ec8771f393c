//! Unit tests: scopes, the cache file (permissions, round trip, corruption), redaction.

use super::file::*;
use super::secret::SecretString;
use super::*;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "entra-client-user-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn account(rt: &str) -> StoredAccount {
    StoredAccount {
        authority: "http://127.0.0.1:1".into(),
        tenant: "t".into(),
        client_id: "c".into(),
        home_account_id: "o.t".into(),
        object_id: Some("o".into()),
        tenant_id: Some("t".into()),
        username: Some("adele@example.test".into()),
        signed_in_at: 1,
        refresh_token: Some(SecretString::new(rt.into())),
        scopes: vec!["api://x/Files.Read".into()],
        access_tokens: vec![StoredAccessToken {
            scopes: vec!["api://x/Files.Read".into()],
            access_token: SecretString::new("AT-SECRET".into()),
            expires_on: 2_000_000_000,
            refresh_on: Some(1_999_999_700),
        }],
    }
}

#[test]
fn scopes_are_split_deduplicated_sorted_and_reserved_ones_dropped() {
    assert_eq!(
        normalize_scopes(&["b a", "openid", "a", "OFFLINE_ACCESS profile"]).unwrap(),
        ["a", "b"]
    );
    assert!(matches!(
        normalize_scopes(&["openid profile"]),
        Err(Error::InvalidScope(_))
    ));
    assert!(normalize_scopes(&["a\u{7}"]).is_err());
    assert_eq!(
        scope_param(&["a".into()]),
        "a offline_access openid profile"
    );
}

#[test]
fn file_round_trip_is_0600_and_atomic() {
    let dir = temp_dir("roundtrip");
    let file = TokenCacheFile::new(dir.join("sub").join("tokens.json"));
    assert!(
        file.load().unwrap().accounts.is_empty(),
        "a missing file is empty"
    );
    let contents = FileContents {
        version: TOKEN_CACHE_FILE_VERSION,
        accounts: vec![account("RT-SECRET")],
    };
    file.save(&contents).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
        let dir_mode = std::fs::metadata(dir.join("sub"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700, "{dir_mode:o}");
    }
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(dir.join("sub"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["tokens.json"]);
    let text = std::fs::read_to_string(file.path()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["accounts"][0]["refresh_token"], "RT-SECRET");
    assert_eq!(
        json["accounts"][0]["access_tokens"][0]["expires_on"],
        2_000_000_000u64
    );
    let back = file.load().unwrap();
    assert_eq!(back.accounts.len(), 1);
    let a = &back.accounts[0];
    assert_eq!(a.refresh_token.as_ref().unwrap().expose(), "RT-SECRET");
    assert_eq!(a.access_tokens[0].access_token.expose(), "AT-SECRET");
    assert_eq!(a.username.as_deref(), Some("adele@example.test"));
    // Debug of what is held never shows a token.
    let shown = format!("{back:?}");
    assert!(
        !shown.contains("RT-SECRET") && !shown.contains("AT-SECRET"),
        "{shown}"
    );
    file.remove().unwrap();
    file.remove().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corrupted_or_foreign_files_are_clear_errors_without_their_contents() {
    let dir = temp_dir("corrupt");
    let file = TokenCacheFile::new(dir.join("tokens.json"));
    for bad in [
        &b"{\"version\":1,\"accounts\":[{\"refresh_token\":\"RT-SECRET\""[..],
        b"\x00\xff garbage",
        b"{\"version\":99,\"accounts\":[]}",
        b"[]",
    ] {
        std::fs::write(file.path(), bad).unwrap();
        let e = file.load().unwrap_err();
        assert!(matches!(e, Error::TokenCacheFile(_)), "{e:?}");
        let shown = e.to_string();
        assert!(
            shown.contains("tokens.json") && shown.contains("sign in again"),
            "{shown}"
        );
        assert!(!shown.contains("RT-SECRET"), "{shown}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_file_picks_the_accounts_of_this_app_latest_first_or_by_username() {
    let dir = temp_dir("pick");
    let file = TokenCacheFile::new(dir.join("tokens.json"));
    let mut old = account("RT-OLD");
    old.home_account_id = "old.t".into();
    old.username = Some("old@example.test".into());
    let mut other_app = account("RT-OTHER");
    other_app.client_id = "another".into();
    other_app.signed_in_at = 99;
    let mut new = account("RT-NEW");
    new.signed_in_at = 5;
    file.save(&FileContents {
        version: 1,
        accounts: vec![old, other_app, new],
    })
    .unwrap();
    let build = |b: UserCredentialBuilder| b.cache_file(file.clone()).build().unwrap();
    let base = || UserCredential::builder("t", "c").authority("http://127.0.0.1:1");
    let latest = build(base()).account().unwrap().unwrap();
    assert_eq!(latest.home_account_id, "o.t");
    let named = build(base().username("OLD@example.test"))
        .account()
        .unwrap()
        .unwrap();
    assert_eq!(named.home_account_id, "old.t");
    assert!(
        build(base().username("nobody@example.test"))
            .account()
            .unwrap()
            .is_none()
    );
    // Signing out removes that account only.
    let cred = build(base());
    cred.sign_out().unwrap();
    assert!(cred.account().unwrap().is_none());
    let left = file.load().unwrap();
    assert_eq!(left.accounts.len(), 2);
    assert!(
        left.accounts
            .iter()
            .all(|a| a.home_account_id != "o.t" || a.client_id != "c")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn builder_checks() {
    let ok = UserCredential::builder("organizations", "c")
        .build()
        .unwrap();
    assert_eq!(
        ok.token_endpoint(),
        "https://login.microsoftonline.com/organizations/oauth2/v2.0/token"
    );
    assert!(UserCredential::builder("a/b", "c").build().is_err());
    assert!(UserCredential::builder("t", " ").build().is_err());
    assert!(
        UserCredential::builder("t", "c")
            .authority("http://example.com")
            .build()
            .is_err()
    );
    let shown = format!("{ok:?}");
    assert!(shown.contains("UserCredential"), "{shown}");
}

#[tokio::test]
async fn without_an_account_token_asks_for_interaction_and_sends_nothing() {
    // Port 1 on loopback: nothing listens; a request would fail with Transport, not this.
    let cred = UserCredential::builder("t", "c")
        .authority("http://127.0.0.1:1")
        .build()
        .unwrap();
    let e = cred.token(&["api://x/Files.Read"]).await.unwrap_err();
    assert!(matches!(e, Error::InteractionRequired { .. }), "{e:?}");
    assert!(e.to_string().contains("no user is signed in"), "{e}");
}

#[test]
fn out_of_range_times_are_no_token_in_memory_and_a_corrupted_file_on_disk() {
    // In memory: no panic, no token (and no refresh time reached before it).
    let mut a = account("RT-SECRET");
    a.access_tokens[0].expires_on = u64::MAX;
    a.access_tokens[0].refresh_on = None;
    let scopes = vec!["api://x/Files.Read".to_owned()];
    assert!(fresh(&a, &scopes, SystemTime::now()).is_none());
    assert!(to_access_token(&a.access_tokens[0]).is_none());

    // On disk: refused at load, for every time field.
    let dir = temp_dir("range");
    let file = TokenCacheFile::new(dir.join("tokens.json"));
    for field in ["expires_on", "refresh_on", "signed_in_at"] {
        let mut json = serde_json::to_value(FileContents {
            version: TOKEN_CACHE_FILE_VERSION,
            accounts: vec![account("RT-SECRET")],
        })
        .unwrap();
        if field == "signed_in_at" {
            json["accounts"][0][field] = u64::MAX.into();
        } else {
            json["accounts"][0]["access_tokens"][0][field] = u64::MAX.into();
        }
        std::fs::write(file.path(), serde_json::to_vec(&json).unwrap()).unwrap();
        let e = file.load().unwrap_err();
        assert!(e.to_string().contains("out of range"), "{field}: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_cache_file_with_an_out_of_range_expiry_is_an_error_not_a_panic() {
    let dir = temp_dir("range-token");
    let file = TokenCacheFile::new(dir.join("tokens.json"));
    let mut a = account("RT-SECRET");
    a.access_tokens[0].expires_on = u64::MAX;
    a.access_tokens[0].refresh_on = None;
    let mut json = serde_json::to_value(FileContents {
        version: TOKEN_CACHE_FILE_VERSION,
        accounts: vec![],
    })
    .unwrap();
    json["accounts"] = serde_json::json!([a]);
    std::fs::write(file.path(), serde_json::to_vec(&json).unwrap()).unwrap();
    let cred = UserCredential::builder("t", "c")
        .authority("http://127.0.0.1:1")
        .cache_file(file)
        .build()
        .unwrap();
    let e = cred.token(&["api://x/Files.Read"]).await.unwrap_err();
    assert!(matches!(e, Error::TokenCacheFile(_)), "{e:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn concurrent_saves_to_one_file_keep_every_account() {
    let dir = temp_dir("lock");
    let file = TokenCacheFile::new(dir.join("tokens.json"));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let file = file.clone();
            std::thread::spawn(move || {
                for i in 0..25 {
                    let mut a = account("RT-SECRET");
                    a.home_account_id = format!("{t}-{i}.t");
                    save_account(&file, a, false).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let contents = file.load().unwrap();
    assert_eq!(contents.accounts.len(), 100, "lost updates");
    assert!(dir.join("tokens.json.lock").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
