//! User sign-in against the emulator over HTTP on 127.0.0.1: the device code flow (the test
//! enters the code on `/devicelogin` and signs in on the page), the browser flow (the test plays
//! the browser: the authorize URL, the sign-in page, the 302 to the loopback listener), silent
//! refresh with rotation on a `ManualClock`, interaction required, the cache file.
//!
//! Device code polling: the credential's `poll_sleep` hook is given a function that waits for
//! the test's go-ahead and then moves the emulator's `ManualClock` by the interval asked for;
//! nothing sleeps for real, and the intervals asked for (5 s, +5 s after `slow_down`) are
//! recorded and checked.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use entra_client::{
    Account, Clock, DeviceCodeInfo, Error, ManualClock, SignInError, SignInMethod, TokenCacheFile,
    TokenCredential, UserCredential, UserCredentialBuilder,
};
use entra_emulator::{
    DEV_API_CLIENT_ID, DEV_SECOND_USER_ID, DEV_SECOND_USER_UPN, DEV_SPA_CLIENT_ID, DEV_TENANT_ID,
    DEV_USER_ID, DEV_USER_PASSWORD, DEV_USER_UPN, Emulator, Endpoint, Fault,
};
use serde_json::Value;
use tokio::sync::{Semaphore, mpsc};

fn files_read() -> String {
    format!("api://{DEV_API_CLIENT_ID}/Files.Read")
}

/// The claims of a JWT (not verified: the emulator's own tests do that).
fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&json).expect("claims")
}

async fn clocked_emulator() -> (Emulator, ManualClock) {
    let clock = ManualClock::new(std::time::SystemTime::now());
    let emu = Emulator::builder()
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    (emu, clock)
}

/// [`clocked_emulator`], but the emulator signs [`DEV_USER_UPN`] in at once (no pages).
async fn auto_clocked_emulator() -> (Emulator, ManualClock) {
    let clock = ManualClock::new(std::time::SystemTime::now());
    let emu = Emulator::builder()
        .clock(clock.clone())
        .auto_sign_in(DEV_USER_UPN)
        .start()
        .await
        .unwrap();
    (emu, clock)
}

fn builder(emu: &Emulator) -> UserCredentialBuilder {
    UserCredential::builder(DEV_TENANT_ID, DEV_SPA_CLIENT_ID).authority(emu.base_url())
}

/// [`builder`] on `clock` with the cache `file`.
fn cached_builder(
    emu: &Emulator,
    clock: &ManualClock,
    file: &TokenCacheFile,
) -> UserCredentialBuilder {
    builder(emu).clock(clock.clone()).cache_file(file.clone())
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "entra-client-user-it-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `tokens.json` in a new [`temp_dir`], and that directory (for the clean-up).
fn temp_cache_file(name: &str) -> (std::path::PathBuf, TokenCacheFile) {
    let dir = temp_dir(name);
    let file = TokenCacheFile::new(dir.join("tokens.json"));
    (dir, file)
}

/// A browser for the tests: no redirects followed, no cookies kept.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Every `name="{name}" value="..."` of a page.
fn input_values(page: &str, name: &str) -> Vec<String> {
    let needle = format!("name=\"{name}\" value=\"");
    page.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &page[i + needle.len()..];
            rest[..rest.find('"').unwrap()].replace("&amp;", "&")
        })
        .collect()
}

fn form_action(page: &str) -> String {
    let i = page.find("action=\"").expect("a form") + "action=\"".len();
    page[i..i + page[i..].find('"').unwrap()].replace("&amp;", "&")
}

/// Answers the emulator's sign-in page as `upn` (with Adele's password for Adele).
async fn submit_sign_in(emu: &Emulator, page: &str, upn: &str) -> reqwest::Response {
    assert!(
        input_values(page, "user").iter().any(|u| u == upn),
        "{upn} not on the page: {page}"
    );
    let flow = input_values(page, "flow").remove(0);
    let mut form = vec![("flow", flow.as_str()), ("user", upn)];
    if upn == DEV_USER_UPN {
        form.push(("password", DEV_USER_PASSWORD));
    }
    browser()
        .post(format!("{}{}", emu.base_url(), form_action(page)))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The consent page's `cancel` or `accept`.
async fn submit_consent(emu: &Emulator, page: &str, decision: &str) -> reqwest::Response {
    let flow = input_values(page, "flow").remove(0);
    browser()
        .post(format!("{}{}", emu.base_url(), form_action(page)))
        .form(&[("flow", flow.as_str()), ("decision", decision)])
        .send()
        .await
        .unwrap()
}

/// Enters `user_code` on `/devicelogin` and signs in as `upn`; the last page.
async fn device_login(emu: &Emulator, user_code: &str, upn: &str) -> String {
    let page = browser()
        .post(format!("{}/devicelogin", emu.base_url()))
        .form(&[("otc", user_code)])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    submit_sign_in(emu, &page, upn).await.text().await.unwrap()
}

/// The device code test harness: the prompt hands the info over; each poll waits for a permit,
/// then moves the emulator's clock by the interval asked for (or by `short` for the first
/// `short_polls` waits, to provoke `slow_down`).
struct Poller {
    info: mpsc::UnboundedReceiver<DeviceCodeInfo>,
    go: Arc<Semaphore>,
    intervals: Arc<Mutex<Vec<Duration>>>,
}

fn with_poller(
    b: UserCredentialBuilder,
    clock: &ManualClock,
    short: Option<(usize, Duration)>,
) -> (UserCredentialBuilder, Poller) {
    let (tx, info) = mpsc::unbounded_channel();
    let go = Arc::new(Semaphore::new(0));
    let intervals = Arc::new(Mutex::new(Vec::new()));
    let (g, rec, clock) = (go.clone(), intervals.clone(), clock.clone());
    let b = b
        .device_code_prompt(move |info| {
            let _ = tx.send(info.clone());
        })
        .poll_sleep(move |d| {
            let n = {
                let mut r = rec.lock().unwrap();
                r.push(d);
                r.len()
            };
            let (g, clock) = (g.clone(), clock.clone());
            async move {
                g.acquire().await.unwrap().forget();
                match short {
                    Some((count, by)) if n <= count => clock.advance(by),
                    _ => clock.advance(d),
                }
            }
        });
    (
        b,
        Poller {
            info,
            go,
            intervals,
        },
    )
}

/// Builds `b` [`with_poller`] and starts a device code sign-in for [`files_read`] in a task.
fn start_device_code(
    b: UserCredentialBuilder,
    clock: &ManualClock,
    short: Option<(usize, Duration)>,
) -> (
    UserCredential,
    tokio::task::JoinHandle<Result<Account, Error>>,
    Poller,
) {
    let (b, poller) = with_poller(b, clock, short);
    let cred = b.build().unwrap();
    let sign_in = tokio::spawn({
        let cred = cred.clone();
        let scope = files_read();
        async move { cred.sign_in_with_device_code(&[&scope]).await }
    });
    (cred, sign_in, poller)
}

#[tokio::test]
async fn device_code_end_to_end_on_the_pages_then_silent_tokens() {
    let (emu, clock) = clocked_emulator().await;
    let (cred, sign_in, mut poller) =
        start_device_code(builder(&emu).clock(clock.clone()), &clock, None);
    let scope = files_read();
    let info = poller.info.recv().await.expect("the prompt");
    assert!(info.message.contains(&info.user_code), "{}", info.message);
    assert_eq!(
        info.verification_uri,
        format!("{}/devicelogin", emu.base_url())
    );
    assert!(!format!("{info:?}").contains(&info.user_code));
    // The first poll went at once and was pending; one more pending poll, then the sign-in.
    poller.go.add_permits(1);
    tokio::task::yield_now().await;
    let done = device_login(&emu, &info.user_code, DEV_USER_UPN).await;
    assert!(done.contains("You have signed in"), "{done}");
    poller.go.add_permits(10);
    let account = sign_in.await.unwrap().unwrap();
    assert_eq!(account.username.as_deref(), Some(DEV_USER_UPN));
    assert_eq!(account.object_id.as_deref(), Some(DEV_USER_ID));
    assert_eq!(
        account.home_account_id,
        format!("{DEV_USER_ID}.{DEV_TENANT_ID}")
    );
    let intervals = poller.intervals.lock().unwrap().clone();
    assert!(!intervals.is_empty());
    assert!(
        intervals.iter().all(|d| *d == Duration::from_secs(5)),
        "{intervals:?}"
    );

    // Silent from now on: the token of the sign-in, then the same from memory.
    let polls = emu.request_count(Endpoint::Token);
    let token = cred.token(&[&scope]).await.unwrap();
    let c = claims(token.secret());
    assert_eq!(c["oid"], DEV_USER_ID);
    assert_eq!(c["scp"], "Files.Read");
    assert_eq!(c["azp"], DEV_SPA_CLIENT_ID);
    assert_eq!(
        emu.request_count(Endpoint::Token),
        polls,
        "no request for a fresh token"
    );
    // Through the trait, as the layer and the CLI use it.
    let any: Arc<dyn TokenCredential> = Arc::new(cred.clone());
    assert_eq!(any.token(&[&scope]).await.unwrap().secret(), token.secret());
}

#[tokio::test]
async fn device_code_slow_down_adds_five_seconds() {
    let (emu, clock) = clocked_emulator().await;
    // The first wait moves the emulator's clock 1 s only: the next poll is too soon.
    let (_, sign_in, mut poller) = start_device_code(
        builder(&emu).clock(clock.clone()),
        &clock,
        Some((1, Duration::from_secs(1))),
    );
    let info = poller.info.recv().await.unwrap();
    poller.go.add_permits(2); // pending (at once), slow_down (1 s later), pending (10 s later)
    while poller.intervals.lock().unwrap().len() < 3 {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    device_login(&emu, &info.user_code, DEV_USER_UPN).await;
    poller.go.add_permits(10);
    sign_in.await.unwrap().unwrap();
    let intervals = poller.intervals.lock().unwrap().clone();
    let secs: Vec<u64> = intervals.iter().map(Duration::as_secs).collect();
    assert_eq!(&secs[..3], [5, 10, 10], "{secs:?}");
}

#[tokio::test]
async fn device_code_declined_and_expired_are_typed_errors() {
    // Declined: the user cancels the consent page.
    let (emu, clock) = clocked_emulator().await;
    emu.set_auto_consent(DEV_TENANT_ID, false);
    let (cred, sign_in, mut poller) = start_device_code(builder(&emu), &clock, None);
    let info = poller.info.recv().await.unwrap();
    let consent = device_login(&emu, &info.user_code, DEV_SECOND_USER_UPN).await;
    assert!(consent.contains("value=\"cancel\""), "{consent}");
    submit_consent(&emu, &consent, "cancel").await;
    poller.go.add_permits(10);
    let e = sign_in.await.unwrap().unwrap_err();
    assert!(
        matches!(&e, Error::SignIn(SignInError::Declined { .. })),
        "{e:?}"
    );
    assert!(cred.account().unwrap().is_none());

    // Expired: nobody signs in and the emulator's clock passes the 15 minutes. (The client
    // keeps the system clock, so it is Entra's `expired_token` that ends it.)
    let (_, sign_in, mut poller) =
        start_device_code(builder(&emu), &clock, Some((1, Duration::from_secs(901))));
    poller.info.recv().await.unwrap();
    poller.go.add_permits(10);
    let e = sign_in.await.unwrap().unwrap_err();
    assert!(
        matches!(&e, Error::SignIn(SignInError::CodeExpired)),
        "{e:?}"
    );

    // Expired by the client's own clock: no poll after the deadline.
    let (_, sign_in, mut poller) = start_device_code(
        builder(&emu).clock(clock.clone()),
        &clock,
        Some((1, Duration::from_secs(1000))),
    );
    poller.info.recv().await.unwrap();
    // Once the first (immediate) poll is done, the credential waits in its sleep.
    while poller.intervals.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let before = emu.request_count(Endpoint::Token);
    poller.go.add_permits(10);
    let e = sign_in.await.unwrap().unwrap_err();
    assert!(
        matches!(&e, Error::SignIn(SignInError::CodeExpired)),
        "{e:?}"
    );
    assert_eq!(emu.request_count(Endpoint::Token), before);
}

/// Plays the browser for one sign-in: the URL handed to `open_url`, the sign-in page as `upn`,
/// then the 302 to the loopback listener; with `forge` first, a redirect with a wrong `state`
/// and one without, which must be refused. Returns the loopback's answers.
async fn play_browser(
    emu: &Emulator,
    urls: &mut mpsc::UnboundedReceiver<String>,
    upn: &str,
    forge: bool,
    consent: Option<&str>,
) -> Vec<(u16, String)> {
    let url = urls.recv().await.expect("an authorize URL");
    let parsed = url::Url::parse(&url).unwrap();
    let q: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 22 && q["nonce"].len() >= 22);
    assert_eq!(q["response_type"], "code");
    let redirect = q["redirect_uri"].clone();
    assert!(redirect.starts_with("http://localhost:"), "{redirect}");
    assert!(q["scope"].contains("offline_access"));
    let mut answers = Vec::new();
    // An idle connection (as a browser's preconnection) must not hold up the others.
    let port: u16 = redirect.rsplit(':').next().unwrap().parse().unwrap();
    let _idle = if forge {
        Some(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        )
    } else {
        None
    };
    if forge {
        for forged in [
            format!("{redirect}/?code=forged&state=not-the-state"),
            format!("{redirect}/?code=forged"),
        ] {
            let r = browser().get(forged).send().await.unwrap();
            answers.push((r.status().as_u16(), r.text().await.unwrap()));
        }
    }
    let page = browser()
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut resp = submit_sign_in(emu, &page, upn).await;
    if let Some(decision) = consent {
        let page = resp.text().await.unwrap();
        resp = submit_consent(emu, &page, decision).await;
    }
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&redirect), "{location}");
    let r = browser().get(location).send().await.unwrap();
    answers.push((r.status().as_u16(), r.text().await.unwrap()));
    answers
}

fn url_channel(
    b: UserCredentialBuilder,
) -> (UserCredentialBuilder, mpsc::UnboundedReceiver<String>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        b.open_url(move |url| {
            let _ = tx.send(url.to_owned());
        }),
        rx,
    )
}

#[tokio::test]
async fn browser_sign_in_with_pkce_on_the_loopback_refuses_a_wrong_state() {
    let emu = Emulator::start().await.unwrap();
    let (b, mut urls) = url_channel(builder(&emu));
    let cred = b.build().unwrap();
    let scope = files_read();
    let scopes = [scope.as_str()];
    let started = std::time::Instant::now();
    let (answers, account) = tokio::join!(
        play_browser(&emu, &mut urls, DEV_USER_UPN, true, None),
        cred.sign_in_with_browser(&scopes)
    );
    let account = account.unwrap();
    // Well within the 10 s a silent connection is given: it was served alongside.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(account.username.as_deref(), Some(DEV_USER_UPN));
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[0].0, 400, "a wrong state is refused");
    assert_eq!(answers[1].0, 400, "a missing state is refused");
    assert!(answers[0].1.contains("Not accepted"));
    assert_eq!(answers[2].0, 200);
    assert!(answers[2].1.contains("Signed in"), "{}", answers[2].1);
    let token = cred.token(&[&scope]).await.unwrap();
    assert_eq!(claims(token.secret())["oid"], DEV_USER_ID);
}

#[tokio::test]
async fn browser_sign_in_cancelled_on_consent_is_declined() {
    let emu = Emulator::start().await.unwrap();
    emu.set_auto_consent(DEV_TENANT_ID, false);
    let (b, mut urls) = url_channel(builder(&emu));
    let cred = b.build().unwrap();
    let scope = files_read();
    let scopes = [scope.as_str()];
    let (answers, result) = tokio::join!(
        play_browser(&emu, &mut urls, DEV_SECOND_USER_UPN, false, Some("cancel")),
        cred.sign_in_with_browser(&scopes)
    );
    assert_eq!(answers[0].0, 200);
    assert!(answers[0].1.contains("Sign-in failed"));
    let e = result.unwrap_err();
    assert!(
        matches!(&e, Error::SignIn(SignInError::Declined { .. })),
        "{e:?}"
    );
}

#[tokio::test]
async fn browser_sign_in_gives_up_after_its_timeout() {
    let emu = Emulator::start().await.unwrap();
    let cred = builder(&emu)
        .open_url(|_| {})
        .sign_in_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let e = cred
        .sign_in_with_browser(&[&files_read()])
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::SignIn(SignInError::TimedOut)), "{e:?}");
}

/// A "browser" for an emulator started with `auto_sign_in`: it follows the authorize URL's
/// redirect (no page) to the loopback listener.
fn auto_browser(b: UserCredentialBuilder) -> UserCredentialBuilder {
    b.open_url(|url| {
        let url = url.to_owned();
        tokio::spawn(async move {
            let resp = browser().get(url).send().await.unwrap();
            assert_eq!(resp.status(), 302, "auto sign-in redirects at once");
            let location = resp.headers()["location"].to_str().unwrap().to_owned();
            let done = browser().get(location).send().await.unwrap();
            assert_eq!(done.status(), 200);
        });
    })
}

/// Signs in in the "browser" on an emulator that signs in at once.
async fn auto_signed_in(
    emu: &Emulator,
    clock: &ManualClock,
    file: Option<&TokenCacheFile>,
) -> UserCredential {
    let mut b = auto_browser(builder(emu).clock(clock.clone()));
    if let Some(f) = file {
        b = b.cache_file(f.clone());
    }
    let cred = b.build().unwrap();
    cred.sign_in_with_browser(&[&files_read()]).await.unwrap();
    cred
}

/// A user signed in by [`auto_signed_in`] on an [`auto_clocked_emulator`], with a
/// [`temp_cache_file`]: the emulator, its clock, the directory, the file and the credential.
async fn cached_sign_in(
    name: &str,
) -> (
    Emulator,
    ManualClock,
    std::path::PathBuf,
    TokenCacheFile,
    UserCredential,
) {
    let (emu, clock) = auto_clocked_emulator().await;
    let (dir, file) = temp_cache_file(name);
    let cred = auto_signed_in(&emu, &clock, Some(&file)).await;
    (emu, clock, dir, file, cred)
}

fn stored_refresh_token(file: &TokenCacheFile) -> String {
    let json: Value = serde_json::from_slice(&std::fs::read(file.path()).unwrap()).unwrap();
    json["accounts"][0]["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned()
}

#[tokio::test]
async fn silent_refresh_after_expiry_rotates_the_refresh_token() {
    let (emu, clock, dir, file, cred) = cached_sign_in("rotate").await;
    let scope = files_read();
    let first = cred.token(&[&scope]).await.unwrap();
    let rt1 = stored_refresh_token(&file);

    for round in 0..2 {
        // Past the access token's lifetime (at most 90 minutes at the emulator).
        clock.advance(Duration::from_secs(2 * 3600));
        let before = emu.request_count(Endpoint::Token);
        // Eight callers at once share one refresh.
        let mut calls = Vec::new();
        for _ in 0..8 {
            let cred = cred.clone();
            let scope = scope.clone();
            calls.push(tokio::spawn(async move { cred.token(&[&scope]).await }));
        }
        let mut secrets = Vec::new();
        for c in calls {
            secrets.push(c.await.unwrap().unwrap().secret().to_owned());
        }
        assert_eq!(
            emu.request_count(Endpoint::Token),
            before + 1,
            "round {round}"
        );
        assert!(secrets.iter().all(|s| *s == secrets[0]));
        assert_ne!(secrets[0], first.secret());
        let c = claims(&secrets[0]);
        assert_eq!(c["oid"], DEV_USER_ID);
        assert!(c["exp"].as_i64().unwrap() > clock.unix_seconds());
    }
    // Rotated and stored: the file's refresh token changed, and the second refresh worked
    // (the emulator revokes the whole family when a spent refresh token comes back).
    let rt3 = stored_refresh_token(&file);
    assert_ne!(rt1, rt3);

    // A new process reads the file: a fresh token without a request, then a refresh.
    let again = cached_builder(&emu, &clock, &file).build().unwrap();
    assert_eq!(
        again.account().unwrap().unwrap().username.as_deref(),
        Some(DEV_USER_UPN)
    );
    let before = emu.request_count(Endpoint::Token);
    again.token(&[&scope]).await.unwrap();
    assert_eq!(emu.request_count(Endpoint::Token), before);
    clock.advance(Duration::from_secs(2 * 3600));
    again.token(&[&scope]).await.unwrap();
    assert_eq!(emu.request_count(Endpoint::Token), before + 1);
    assert_ne!(stored_refresh_token(&file), rt3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn two_programs_on_one_cache_file_do_not_spend_each_others_refresh_token() {
    let (emu, clock, dir, file, _) = cached_sign_in("two").await;
    let scope = files_read();
    let program = || cached_builder(&emu, &clock, &file).build().unwrap();
    let (a, b) = (program(), program());
    // Both read the file.
    assert!(a.account().unwrap().is_some() && b.account().unwrap().is_some());
    clock.advance(Duration::from_secs(2 * 3600));
    let before = emu.request_count(Endpoint::Token);
    let from_a = a.token(&[&scope]).await.unwrap();
    // B's refresh token is spent (A rotated it); B takes A's tokens from the file instead of
    // sending the spent one, which would revoke the whole family.
    let from_b = b.token(&[&scope]).await.unwrap();
    assert_eq!(from_a.secret(), from_b.secret());
    assert_eq!(emu.request_count(Endpoint::Token), before + 1);
    clock.advance(Duration::from_secs(2 * 3600));
    b.token(&[&scope]).await.unwrap();
    a.token(&[&scope]).await.unwrap();
    assert_eq!(emu.request_count(Endpoint::Token), before + 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_caller_that_gives_up_does_not_cancel_the_shared_refresh() {
    let (emu, clock, dir, file, cred) = cached_sign_in("cancel").await;
    let scope = files_read();
    let rt = stored_refresh_token(&file);
    clock.advance(Duration::from_secs(2 * 3600));
    emu.set_fault(Endpoint::Token, Fault::Delay(Duration::from_millis(300)));
    let before = emu.request_count(Endpoint::Token);
    // The first caller gives up while the refresh is on the wire.
    let gave_up = tokio::time::timeout(Duration::from_millis(50), cred.token(&[&scope])).await;
    assert!(gave_up.is_err());
    // The next caller joins the same refresh, which completed and stored the rotated token.
    let token = cred.token(&[&scope]).await.unwrap();
    emu.clear_fault(Endpoint::Token);
    assert_eq!(claims(token.secret())["oid"], DEV_USER_ID);
    assert_eq!(emu.request_count(Endpoint::Token), before + 1);
    assert_ne!(stored_refresh_token(&file), rt);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_refused_refresh_token_is_interaction_required_then_the_opted_in_sign_in() {
    let (emu, clock, dir, file, cred) = cached_sign_in("revoked").await;
    let scope = files_read();
    emu.revoke_refresh_tokens(DEV_TENANT_ID, DEV_USER_UPN);
    clock.advance(Duration::from_secs(2 * 3600));
    let e = cred.token(&[&scope]).await.unwrap_err();
    let Error::InteractionRequired { reason, entra } = &e else {
        panic!("{e:?}")
    };
    assert!(reason.contains("invalid_grant"), "{reason}");
    assert_eq!(entra.as_ref().unwrap().error, "invalid_grant");
    // The spent refresh token is gone from memory and the file: no second request.
    let json: Value = serde_json::from_slice(&std::fs::read(file.path()).unwrap()).unwrap();
    assert!(json["accounts"][0]["refresh_token"].is_null(), "{json}");
    let before = emu.request_count(Endpoint::Token);
    let e = cred.token(&[&scope]).await.unwrap_err();
    assert!(matches!(e, Error::InteractionRequired { .. }), "{e:?}");
    assert!(e.to_string().contains("no refresh token"), "{e}");
    assert_eq!(emu.request_count(Endpoint::Token), before);

    // Opted in: the same situation runs the browser sign-in (at once here).
    let interactive = auto_browser(cached_builder(&emu, &clock, &file))
        .interactive(SignInMethod::Browser)
        .build()
        .unwrap();
    let token = interactive.token(&[&scope]).await.unwrap();
    assert_eq!(claims(token.secret())["oid"], DEV_USER_ID);
    assert!(!stored_refresh_token(&file).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_corrupted_cache_file_is_a_clear_error_and_a_sign_in_replaces_it() {
    let (emu, clock) = auto_clocked_emulator().await;
    let (dir, file) = temp_cache_file("corrupt");
    std::fs::write(file.path(), b"{\"version\":1,\"accounts\":[{\"refresh_").unwrap();
    let cred = auto_browser(cached_builder(&emu, &clock, &file))
        .build()
        .unwrap();
    let before = emu.request_count(Endpoint::Token);
    let e = cred.token(&[&files_read()]).await.unwrap_err();
    assert!(matches!(e, Error::TokenCacheFile(_)), "{e:?}");
    assert!(e.to_string().contains("sign in again"), "{e}");
    assert_eq!(emu.request_count(Endpoint::Token), before);
    cred.sign_in_with_browser(&[&files_read()]).await.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let again = cached_builder(&emu, &clock, &file).build().unwrap();
    again.token(&[&files_read()]).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn debug_and_errors_never_show_tokens() {
    let (_emu, _clock, dir, file, cred) = cached_sign_in("debug").await;
    let token = cred.token(&[&files_read()]).await.unwrap();
    let rt = stored_refresh_token(&file);
    let shown = format!("{cred:?} {cred:#?} {token:?}");
    assert!(!shown.contains(&rt), "{shown}");
    assert!(!shown.contains(token.secret()), "{shown}");
    assert!(shown.contains(DEV_USER_UPN), "{shown}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn device_code_polling_survives_a_failed_poll() {
    let (emu, clock) = clocked_emulator().await;
    let (_, sign_in, mut poller) =
        start_device_code(builder(&emu).clock(clock.clone()), &clock, None);
    let info = poller.info.recv().await.unwrap();
    // The first poll (at once) was pending; the second one loses its connection.
    emu.set_fault(Endpoint::Token, Fault::DropConnection);
    poller.go.add_permits(1);
    while poller.intervals.lock().unwrap().len() < 2 && !sign_in.is_finished() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!sign_in.is_finished(), "one failed poll ended the sign-in");
    emu.clear_fault(Endpoint::Token);
    device_login(&emu, &info.user_code, DEV_USER_UPN).await;
    poller.go.add_permits(10);
    let account = sign_in.await.unwrap().unwrap();
    assert_eq!(account.object_id.as_deref(), Some(DEV_USER_ID));
}

#[tokio::test]
async fn device_code_never_sleeps_past_the_code_expiry() {
    let (emu, clock) = clocked_emulator().await;
    // The first wait moves the clock to 2 s before the 15 minutes are up.
    let (_, sign_in, mut poller) = start_device_code(
        builder(&emu).clock(clock.clone()),
        &clock,
        Some((1, Duration::from_secs(898))),
    );
    poller.info.recv().await.unwrap();
    poller.go.add_permits(10);
    let e = sign_in.await.unwrap().unwrap_err();
    assert!(
        matches!(&e, Error::SignIn(SignInError::CodeExpired)),
        "{e:?}"
    );
    let secs: Vec<u64> = poller
        .intervals
        .lock()
        .unwrap()
        .iter()
        .map(Duration::as_secs)
        .collect();
    assert_eq!(secs, [5, 2], "the last wait is the time left");
}

#[tokio::test]
async fn a_refresh_that_ends_after_a_new_sign_in_does_not_touch_the_new_account() {
    let (emu, clock) = clocked_emulator().await;
    let (dir, file) = temp_cache_file("switch");
    let (b, mut urls) = url_channel(cached_builder(&emu, &clock, &file));
    let cred = b.build().unwrap();
    let scope = files_read();
    let scopes = [scope.as_str()];
    // Adele signs in.
    let (_, adele) = tokio::join!(
        play_browser(&emu, &mut urls, DEV_USER_UPN, false, None),
        cred.sign_in_with_browser(&scopes)
    );
    assert_eq!(adele.unwrap().object_id.as_deref(), Some(DEV_USER_ID));

    // Adele's token expires; her refresh goes on the wire and is answered late.
    clock.advance(Duration::from_secs(2 * 3600));
    emu.set_fault(Endpoint::Token, Fault::Delay(Duration::from_millis(1500)));
    let before = emu.request_count(Endpoint::Token);
    let refresh = tokio::spawn({
        let (cred, scope) = (cred.clone(), scope.clone());
        async move { cred.token(&[&scope]).await }
    });
    while emu.request_count(Endpoint::Token) == before {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    emu.clear_fault(Endpoint::Token);

    // Meanwhile Alex signs in.
    let adele_rt = stored_refresh_token(&file);
    let (_, alex) = tokio::join!(
        play_browser(&emu, &mut urls, DEV_SECOND_USER_UPN, false, None),
        cred.sign_in_with_browser(&scopes)
    );
    assert_eq!(alex.unwrap().object_id.as_deref(), Some(DEV_SECOND_USER_ID));
    assert!(
        !refresh.is_finished(),
        "the refresh must end after the sign-in"
    );
    // The refresh hands Adele's token to the caller who asked for it...
    let adele_token = refresh.await.unwrap().unwrap();
    assert_eq!(claims(adele_token.secret())["oid"], DEV_USER_ID);
    // ...and stores nothing into Alex's account, in memory or in the file.
    let account = cred.account().unwrap().unwrap();
    assert_eq!(account.object_id.as_deref(), Some(DEV_SECOND_USER_ID));
    let token = cred.token(&[&scope]).await.unwrap();
    assert_eq!(claims(token.secret())["oid"], DEV_SECOND_USER_ID);
    let again = cached_builder(&emu, &clock, &file).build().unwrap();
    let token = again.token(&[&scope]).await.unwrap();
    assert_eq!(claims(token.secret())["oid"], DEV_SECOND_USER_ID);
    // Adele's rotated refresh token went to her own entry in the file.
    let json: Value = serde_json::from_slice(&std::fs::read(file.path()).unwrap()).unwrap();
    let entries = json["accounts"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{json}");
    let adele_entry = entries
        .iter()
        .find(|a| a["object_id"] == DEV_USER_ID)
        .unwrap();
    assert_ne!(adele_entry["refresh_token"], adele_rt.as_str());
    assert!(adele_entry["refresh_token"].is_string());
    let adele_again = cached_builder(&emu, &clock, &file)
        .username(DEV_USER_UPN)
        .build()
        .unwrap();
    let token = adele_again.token(&[&scope]).await.unwrap();
    assert_eq!(claims(token.secret())["oid"], DEV_USER_ID);
    // Alex's refresh token is his own: a refresh of his account works and is his.
    clock.advance(Duration::from_secs(2 * 3600));
    let token = again.token(&[&scope]).await.unwrap();
    assert_eq!(claims(token.secret())["oid"], DEV_SECOND_USER_ID);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_loopback_redirect_is_served_on_ipv6_localhost_too() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here; skipped");
        return;
    }
    let emu = Emulator::builder()
        .auto_sign_in(DEV_USER_UPN)
        .start()
        .await
        .unwrap();
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let cred = builder(&emu)
        .sign_in_timeout(Duration::from_secs(5))
        .open_url(move |url| {
            let (url, done_tx) = (url.to_owned(), done_tx.clone());
            tokio::spawn(async move {
                let resp = browser().get(url).send().await.unwrap();
                let location = resp.headers()["location"].to_str().unwrap().to_owned();
                // Where `localhost` resolves to ::1 first, the browser goes there.
                assert!(location.starts_with("http://localhost:"), "{location}");
                let v6 = location.replacen("http://localhost:", "http://[::1]:", 1);
                let status = match browser().get(v6).send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(e) => {
                        eprintln!("{e}");
                        0
                    }
                };
                let _ = done_tx.send(status);
            });
        })
        .build()
        .unwrap();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        cred.sign_in_with_browser(&[&files_read()]),
    )
    .await;
    assert_eq!(done.recv().await, Some(200), "the redirect over [::1]");
    let account = result.expect("no hang").unwrap();
    assert_eq!(account.object_id.as_deref(), Some(DEV_USER_ID));
}

#[tokio::test]
async fn the_loopback_listener_serves_sixteen_connections_and_turns_more_away() {
    use tokio::io::AsyncReadExt as _;
    let emu = Emulator::builder()
        .auto_sign_in(DEV_USER_UPN)
        .start()
        .await
        .unwrap();
    let (b, mut urls) = url_channel(builder(&emu));
    let cred = b.build().unwrap();
    let scope = files_read();
    let play = async {
        let url = urls.recv().await.unwrap();
        let parsed = url::Url::parse(&url).unwrap();
        let redirect = parsed
            .query_pairs()
            .find(|(k, _)| k == "redirect_uri")
            .unwrap()
            .1
            .into_owned();
        let port: u16 = redirect.rsplit(':').next().unwrap().parse().unwrap();
        // Sixteen idle connections hold every slot...
        let mut idle = Vec::new();
        for _ in 0..16 {
            idle.push(
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .unwrap(),
            );
        }
        // ...so the seventeenth is answered 503 and closed at once, not held.
        let mut extra = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(3), extra.read_to_end(&mut answer))
            .await
            .expect("turned away at once")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer).into_owned();
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        // Once they are gone, the real redirect gets through.
        drop(idle);
        let resp = browser().get(&url).send().await.unwrap();
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        for _ in 0..200 {
            let r = browser().get(&location).send().await.unwrap();
            if r.status() != 503 {
                assert_eq!(r.status(), 200);
                return;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the slots were never freed");
    };
    let scopes = [scope.as_str()];
    let (_, account) = tokio::join!(play, cred.sign_in_with_browser(&scopes));
    assert_eq!(account.unwrap().object_id.as_deref(), Some(DEV_USER_ID));
}

#[tokio::test]
async fn a_refresh_that_cannot_connect_is_retried() {
    let (emu, clock, dir, file, _) = cached_sign_in("connect").await;
    // The account moves to a proxy's address where nothing listens yet.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let proxy_url = format!("http://127.0.0.1:{port}");
    let text = std::fs::read_to_string(file.path()).unwrap();
    assert!(text.contains(&emu.base_url()));
    std::fs::write(file.path(), text.replace(&emu.base_url(), &proxy_url)).unwrap();
    clock.advance(Duration::from_secs(2 * 3600));
    // The wait before the retry starts the proxy.
    let waits = Arc::new(Mutex::new(Vec::new()));
    let upstream = emu.local_addr();
    let cred = UserCredential::builder(DEV_TENANT_ID, DEV_SPA_CLIENT_ID)
        .authority(&proxy_url)
        .clock(clock.clone())
        .cache_file(file.clone())
        .poll_sleep({
            let waits = waits.clone();
            move |d| {
                let first = {
                    let mut w = waits.lock().unwrap();
                    w.push(d);
                    w.len() == 1
                };
                if first {
                    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
                    listener.set_nonblocking(true).unwrap();
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    tokio::spawn(async move {
                        while let Ok((mut inbound, _)) = listener.accept().await {
                            tokio::spawn(async move {
                                let mut outbound =
                                    tokio::net::TcpStream::connect(upstream).await.unwrap();
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                    .await;
                            });
                        }
                    });
                }
                async {}
            }
        })
        .build()
        .unwrap();
    let before = emu.request_count(Endpoint::Token);
    let token = cred.token(&[&files_read()]).await.unwrap();
    assert_eq!(claims(token.secret())["oid"], DEV_USER_ID);
    assert_eq!(emu.request_count(Endpoint::Token), before + 1);
    let waits = waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert!(waits[0] <= Duration::from_millis(375), "{waits:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
