//! Rotating a webhook secret while a delivery is being retried: the attempts after the rotation
//! are signed with the new secret only (checked with the test's own Standard Webhooks verifier
//! against a real receiver on 127.0.0.1 that fails first).

use std::time::{Duration, Instant};

use reqwest::Method;

use crate::helpers::{Demo, TestApp};
use crate::messages::{message_body, submit};
use crate::webhooks::{
    DOWN, Receiver, UP, client, deliveries, settings, subscribe, verifies, wait_for,
};

async fn until_hits(receiver: &Receiver, n: usize, within: Duration) {
    let start = Instant::now();
    while receiver.hits().len() < n {
        assert!(
            start.elapsed() < within,
            "{n} attempts expected within {within:?}: {:?}",
            receiver.hits()
        );
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
}

#[actix_web::test]
async fn attempts_after_a_rotation_are_signed_with_the_new_secret_only() {
    // Retries after 0.25-0.5 s, 1.5-3 s, …: the rotation lands between the first attempt and
    // the second with a quarter of a second to spare.
    let app = TestApp::spawn_with(settings(20, 0.1, true)).await;
    let (_, token) = client(&app, "联络平台", &["webhooks:manage"]).await;
    let receiver = Receiver::reserve(DOWN, Duration::ZERO);
    let handle = receiver.listen();
    let (sub, old) = subscribe(&app, &token, &receiver.url(), &["message.created"]).await;
    let citizen = app.token(Demo::Citizen).await;
    submit(&app, &citizen, message_body("井盖缺失（轮换密钥）")).await;
    until_hits(&receiver, 1, Duration::from_secs(10)).await;

    let base = format!("/api/v1/webhooks/{sub}");
    let etag = app
        .get(&base, &token)
        .await
        .header("etag")
        .unwrap()
        .to_owned();
    let r = app
        .send_with(
            Method::POST,
            &format!("{base}/secret"),
            Some(&token),
            None,
            &[("if-match", &etag)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let new = r.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let rotated_after = receiver.hits().len();
    assert_eq!(rotated_after, 1, "rotated before the first retry");

    // One more failure under the new secret, then the receiver recovers.
    until_hits(&receiver, 2, Duration::from_secs(10)).await;
    receiver.set_mode(UP);
    wait_for(&app, &token, &sub, 1, "delivered", Duration::from_secs(15)).await;

    let hits = receiver.hits();
    assert!(hits.len() >= 3, "{hits:?}");
    assert!(hits.iter().all(|h| h.id == hits[0].id), "one delivery");
    assert!(verifies(&old, &hits[0]) && !verifies(&new, &hits[0]));
    for h in &hits[rotated_after..] {
        assert!(verifies(&new, h), "new secret: {h:?}");
        assert!(!verifies(&old, h), "the old secret must not verify: {h:?}");
    }
    let d = &deliveries(&app, &token, &sub, "").await[0];
    assert_eq!(d["attempts"], hits.len());
    handle.stop(false).await;
}
