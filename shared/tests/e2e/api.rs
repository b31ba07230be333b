//! The API Lambda end to end: API Gateway HTTP API events (from the fixture)
//! → handler → DynamoDB on moto, with snapshots written by the real store.
//! Every response is checked against docs/openapi.json.

use std::io::Read;

use crate::common::*;
use aws_config::SdkConfig;
use base64::Engine;
use chrono::Duration;
use lambda_runtime::{Context, LambdaEvent};
use queue_stats::api::Api;
use queue_stats::handlers::api::handle;
use queue_stats::model::Snapshot;
use queue_stats::wiring::build_api;
use serde_json::{Value, json};

/// What API Gateway would send the client, decoded.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: serde_json::Map<String, Value>,
    body: Option<Value>,
    raw_body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(Value::as_str)
    }
    fn json(&self) -> &Value {
        self.body.as_ref().expect("a JSON body")
    }
    fn error_code(&self) -> &str {
        self.json()["error"]["code"].as_str().unwrap()
    }
}

struct World {
    sdk: SdkConfig,
    api: Api,
    snapshot: Option<Snapshot>,
}

async fn world(snapshots: Vec<Snapshot>) -> World {
    let sdk = sdk_config().await;
    let table = table_with(&sdk, &snapshots).await;
    let api = build_api(reader_config(&table, &[]), &sdk).await;
    World {
        sdk,
        api,
        snapshot: snapshots.last().cloned(),
    }
}

fn event(method: &str, raw_path: &str, raw_query: &str, headers: &[(&str, &str)]) -> Value {
    let mut event = fixture("events/apigw-get-snapshot.json");
    event["rawPath"] = json!(raw_path);
    event["rawQueryString"] = json!(raw_query);
    event["requestContext"]["http"]["method"] = json!(method);
    event["requestContext"]["http"]["path"] = json!(raw_path);
    event["headers"]
        .as_object_mut()
        .unwrap()
        .remove("accept-encoding");
    for (name, value) in headers {
        event["headers"][*name] = json!(value);
    }
    event
}

async fn send_event(api: &Api, event: Value) -> Answer {
    let response = handle(LambdaEvent::new(event, Context::default()), api)
        .await
        .unwrap();
    // Exactly what the runtime hands API Gateway.
    let wire = serde_json::to_value(&response).unwrap();
    let status = wire["statusCode"].as_u64().unwrap() as u16;
    let headers = wire["headers"].as_object().cloned().unwrap_or_default();
    let mut raw_body = match wire.get("body").and_then(Value::as_str) {
        None => Vec::new(),
        Some(text) if wire["isBase64Encoded"] == true => base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap(),
        Some(text) => text.as_bytes().to_vec(),
    };
    if headers.get("content-encoding").and_then(Value::as_str) == Some("gzip")
        && !raw_body.is_empty()
    {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(raw_body.as_slice())
            .read_to_end(&mut plain)
            .unwrap();
        raw_body = plain;
    }
    let json = headers
        .get("content-type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.starts_with("application/json"));
    let body = (json && !raw_body.is_empty())
        .then(|| serde_json::from_slice(&raw_body).expect("JSON body"));
    Answer {
        status,
        headers,
        body,
        raw_body,
    }
}

/// The length of the body as sent (before any gzip is undone).
async fn send_event_raw_len(api: &Api, event: Value) -> usize {
    let response = handle(LambdaEvent::new(event, Context::default()), api)
        .await
        .unwrap();
    let wire = serde_json::to_value(&response).unwrap();
    match wire.get("body").and_then(Value::as_str) {
        None => 0,
        Some(text) if wire["isBase64Encoded"] == true => base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap()
            .len(),
        Some(text) => text.len(),
    }
}

async fn get(
    api: &Api,
    template: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let answer = send_event(api, event("GET", raw_path, raw_query, headers)).await;
    openapi::assert_documented(template, &answer);
    answer
}

/// Holds every answer to docs/openapi.json.
mod openapi {
    use super::*;
    use std::sync::OnceLock;

    fn doc() -> &'static Value {
        static DOC: OnceLock<Value> = OnceLock::new();
        DOC.get_or_init(|| {
            let path = format!("{}/../docs/openapi.json", env!("CARGO_MANIFEST_DIR"));
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
        })
    }

    fn escape(segment: &str) -> String {
        segment.replace('~', "~0").replace('/', "~1")
    }

    /// Validates `instance` against the schema at `pointer` inside the document.
    fn validate(pointer: &str, instance: &Value) -> Vec<String> {
        let mut root = doc().clone();
        // A URI fragment: braces of path templates must be percent-encoded.
        let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
        root["$ref"] = json!(format!("#{fragment}"));
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&root)
            .unwrap_or_else(|e| panic!("schema at {pointer}: {e}"));
        validator
            .iter_errors(instance)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect()
    }

    /// Fails unless the route documents this status and the body and
    /// headers match what it documents.
    pub fn assert_documented(template: &str, answer: &Answer) {
        assert_documented_as(template, "get", answer)
    }

    /// As [`assert_documented`], for the operation of `method` (lower case).
    pub fn assert_documented_as(template: &str, method: &str, answer: &Answer) {
        let responses_ptr = format!("/paths/{}/{method}/responses", escape(template));
        let status = answer.status.to_string();
        let mut pointer = format!("{responses_ptr}/{status}");
        let mut response = doc()
            .pointer(&pointer)
            .unwrap_or_else(|| panic!("{template} does not document a {status}: {answer:?}"));
        if let Some(target) = response.get("$ref").and_then(Value::as_str) {
            pointer = target.trim_start_matches('#').to_owned();
            response = doc().pointer(&pointer).unwrap();
        }
        let html = response.pointer("/content/text~1html").is_some();
        if html {
            assert!(
                answer
                    .header("content-type")
                    .is_some_and(|t| t.starts_with("text/html")),
                "{template} {status} documents HTML: {answer:?}"
            );
            assert!(!answer.raw_body.is_empty(), "{template} {status}: no page");
        }
        match (&answer.body, response.get("content")) {
            _ if html => {}
            (Some(body), Some(_)) => {
                let errors = validate(&format!("{pointer}/content/application~1json/schema"), body);
                assert!(
                    errors.is_empty(),
                    "{template} {status} body breaks the OpenAPI document: {errors:?}\n{body:#}"
                );
            }
            (Some(body), None) => {
                panic!("{template} {status} documents no body but one came: {body}")
            }
            (None, Some(_)) => panic!("{template} {status} documents a body but none came"),
            (None, None) => {}
        }
        if let Some(headers) = response.get("headers").and_then(Value::as_object) {
            for (name, spec) in headers {
                let Some(value) = answer.header(&name.to_ascii_lowercase()) else {
                    continue;
                };
                let mut header_ptr = format!("{pointer}/headers/{}", escape(name));
                if let Some(target) = spec.get("$ref").and_then(Value::as_str) {
                    header_ptr = target.trim_start_matches('#').to_owned();
                }
                let errors = validate(&format!("{header_ptr}/schema"), &json!(value));
                assert!(
                    errors.is_empty(),
                    "{template} {status} header {name}: {errors:?}"
                );
            }
        }
    }
}

const SNAP: &str = "/v1/snapshot";
const QUEUE: &str = "/v1/queues/{queueId}";
const HISTORY: &str = "/v1/queues/{queueId}/history";
const HEALTH: &str = "/v1/health";
const WALLBOARD: &str = "/wallboard";

fn ids(answer: &Answer) -> Vec<String> {
    answer.json()["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["queueId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_latest_snapshot_is_served_with_etag_and_cache_control() {
    let world = world(vec![
        seed_snapshot(Duration::minutes(5)),
        seed_snapshot(Duration::seconds(2)),
    ])
    .await;

    let answer = get(&world.api, SNAP, "/v1/snapshot", "", &[]).await;

    assert_eq!(answer.status, 200);
    // Queues come grouped as stored; the order is not part of the contract.
    let mut served: Snapshot = serde_json::from_value(answer.json().clone()).unwrap();
    queue_stats::model::sort_canonical(&mut served.queues);
    assert_eq!(&served, world.snapshot.as_ref().unwrap());
    assert!(answer.header("etag").unwrap().starts_with('"'));
    let max_age: u64 = answer
        .header("cache-control")
        .unwrap()
        .trim_start_matches("private, max-age=")
        .parse()
        .unwrap();
    assert!(max_age <= 10);
}

#[tokio::test]
async fn filters_narrow_the_snapshot() {
    let world = world(vec![seed_snapshot(Duration::seconds(1))]).await;
    let bare = SEED_ARN.rsplit('/').next().unwrap();
    let cases: Vec<(String, Vec<&str>)> = vec![
        ("source=symbee".into(), vec![SEED_ARN, "email-customer-care", "sms-customer-care"]),
        ("source=connect".into(), vec![]),
        ("deliveryProvider=SYMBEE".into(), vec!["email-customer-care", "sms-customer-care"]),
        ("taskType=SMS_PINPOINT&taskType=AMAZON_ANY".into(), vec![SEED_ARN, "sms-customer-care"]),
        ("queueId=email-customer-care&queueId=sms-customer-care".into(), vec!["email-customer-care", "sms-customer-care"]),
        (format!("queueId={}", bare), vec![SEED_ARN]),
        ("queueId=arn%3Aaws%3Aconnect%3Aus-east-1%3Axxxxx%3Ainstance%2Fxxxx-xxxx-xxx-xxxx-xxxxxxx%2Fqueue%2Fxxxxx-xxxx-xxxx-xxxx-xxxxxx".into(), vec![SEED_ARN]),
        ("deliveryProvider=SYMBEE&taskType=AMAZON_ANY".into(), vec![]),
        ("queueId=nobody".into(), vec![]),
    ];
    for (query, expected) in cases {
        let answer = get(&world.api, SNAP, "/v1/snapshot", &query, &[]).await;
        assert_eq!(answer.status, 200, "{query}");
        let mut got = ids(&answer);
        got.sort();
        let mut expected: Vec<String> = expected.into_iter().map(str::to_owned).collect();
        expected.sort();
        assert_eq!(got, expected, "{query}");
    }
}

#[tokio::test]
async fn an_unchanged_etag_is_a_304_and_a_changed_one_a_200() {
    let world = world(vec![seed_snapshot(Duration::seconds(1))]).await;
    let first = get(&world.api, SNAP, "/v1/snapshot", "", &[]).await;
    let tag = first.header("etag").unwrap().to_owned();

    let again = get(
        &world.api,
        SNAP,
        "/v1/snapshot",
        "",
        &[("if-none-match", &tag)],
    )
    .await;
    assert_eq!(again.status, 304);
    assert!(again.raw_body.is_empty());
    assert_eq!(again.header("etag"), Some(tag.as_str()));

    let other = get(
        &world.api,
        SNAP,
        "/v1/snapshot",
        "",
        &[("if-none-match", "\"0000\"")],
    )
    .await;
    assert_eq!(other.status, 200);
    let queue = get(&world.api, QUEUE, "/v1/queues/email-customer-care", "", &[]).await;
    let queue_again = get(
        &world.api,
        QUEUE,
        "/v1/queues/email-customer-care",
        "",
        &[("if-none-match", queue.header("etag").unwrap())],
    )
    .await;
    assert_eq!(queue_again.status, 304);
}

#[tokio::test]
async fn gzip_is_used_when_accepted_and_base64_encoded_for_api_gateway() {
    let world = world(vec![seed_snapshot(Duration::seconds(1))]).await;

    let zipped = get(
        &world.api,
        SNAP,
        "/v1/snapshot",
        "",
        &[("accept-encoding", "gzip, br")],
    )
    .await;
    let plain = get(&world.api, SNAP, "/v1/snapshot", "", &[]).await;

    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert_eq!(zipped.header("vary"), Some("Accept-Encoding"));
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(zipped.json(), plain.json());
    // Errors compress too when large enough; small ones stay plain.
    let refused = get(
        &world.api,
        SNAP,
        "/v1/snapshot",
        "",
        &[("accept-encoding", "gzip;q=0")],
    )
    .await;
    assert_eq!(refused.header("content-encoding"), None);
}

#[tokio::test]
async fn one_queue_by_id_encoded_arn_raw_arn_or_bare_connect_id() {
    let world = world(vec![seed_snapshot(Duration::seconds(1))]).await;
    let encoded = SEED_ARN.replace(':', "%3A").replace('/', "%2F");
    let bare = SEED_ARN.rsplit('/').next().unwrap();
    for path in [
        format!("/v1/queues/{encoded}"),
        format!("/v1/queues/{SEED_ARN}"),
        format!("/v1/queues/{bare}"),
    ] {
        let answer = get(&world.api, QUEUE, &path, "", &[]).await;
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.json()["queue"]["queueId"], SEED_ARN);
        assert_eq!(
            answer.json()["snapshotId"],
            world.snapshot.as_ref().unwrap().snapshot_id.as_str()
        );
    }
    let email = get(&world.api, QUEUE, "/v1/queues/email-customer-care", "", &[]).await;
    assert_eq!(email.json()["queue"]["itemsInQueue"], 27);

    let unknown = get(&world.api, QUEUE, "/v1/queues/no-such-queue", "", &[]).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.error_code(), "QUEUE_NOT_FOUND");
}

#[tokio::test]
async fn history_covers_the_window_and_checks_minutes() {
    let world = world(vec![
        seed_snapshot(Duration::minutes(50)),
        seed_snapshot(Duration::minutes(20)),
        seed_snapshot(Duration::minutes(1)),
    ])
    .await;
    let path = "/v1/queues/email-customer-care/history";

    let default = get(&world.api, HISTORY, path, "", &[]).await;
    assert_eq!(default.status, 200);
    assert_eq!(default.json()["minutes"], 60);
    assert_eq!(default.json()["points"].as_array().unwrap().len(), 3);
    let recent = get(&world.api, HISTORY, path, "minutes=30", &[]).await;
    assert_eq!(recent.json()["points"].as_array().unwrap().len(), 2);
    let times: Vec<&str> = recent.json()["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["observedAt"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "oldest first");
    let by_arn = get(
        &world.api,
        HISTORY,
        &format!("/v1/queues/{}/history", SEED_ARN.replace('/', "%2F")),
        "minutes=1440",
        &[],
    )
    .await;
    assert_eq!(by_arn.json()["points"].as_array().unwrap().len(), 3);

    for bad in [
        "minutes=0",
        "minutes=1441",
        "minutes=abc",
        "minutes=-5",
        "minutes=1.5",
        "minutes=5&minutes=6",
        "minute=5",
    ] {
        let answer = get(&world.api, HISTORY, path, bad, &[]).await;
        assert_eq!(answer.status, 400, "{bad}");
    }
    let unknown = get(
        &world.api,
        HISTORY,
        "/v1/queues/no-such-queue/history",
        "",
        &[],
    )
    .await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn health_is_200_when_fresh_and_503_when_stale_or_missing() {
    let fresh = world(vec![seed_snapshot(Duration::seconds(2))]).await;
    let answer = get(&fresh.api, HEALTH, "/v1/health", "", &[]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["status"], "ok");
    assert_eq!(answer.json()["sources"][0]["status"], "ok");
    assert!(answer.json()["ageSeconds"].as_i64().unwrap() <= 3);
    assert_eq!(answer.json()["staleAfterSeconds"], 30);
    assert!(answer.header("etag").is_some());
    assert_eq!(answer.header("cache-control"), Some("no-store"));

    let stale = world(vec![seed_snapshot(Duration::minutes(5))]).await;
    let answer = get(&stale.api, HEALTH, "/v1/health", "", &[]).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.json()["status"], "stale");

    let missing = world(vec![]).await;
    let answer = get(&missing.api, HEALTH, "/v1/health", "", &[]).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.json()["status"], "no_snapshot");
    let answer = get(&missing.api, SNAP, "/v1/snapshot", "", &[]).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.error_code(), "NO_SNAPSHOT_YET");
}

#[tokio::test]
async fn a_missing_table_is_a_503_that_names_the_misconfiguration() {
    let sdk = sdk_config().await;
    let api = build_api(reader_config(&unique("no-such-table"), &[]), &sdk).await;
    for (template, path) in [
        (SNAP, "/v1/snapshot"),
        (QUEUE, "/v1/queues/q"),
        (HISTORY, "/v1/queues/q/history"),
        (HEALTH, "/v1/health"),
    ] {
        let answer = get(&api, template, path, "", &[]).await;
        assert_eq!(answer.status, 503, "{path}");
        assert_eq!(answer.error_code(), "STORE_MISCONFIGURED");
        // The body says what is wrong: the table is missing.
        assert_eq!(answer.json()["error"]["reason"], "TableMissing", "{path}");
        // Retrying changes nothing until an operator acts: no Retry-After.
        assert!(answer.header("retry-after").is_none(), "{path}");
    }
}

#[tokio::test]
async fn bad_input_is_a_clear_4xx_never_a_5xx() {
    let world = world(vec![seed_snapshot(Duration::seconds(1))]).await;
    let long_id = "q".repeat(3000);
    let cases: Vec<(&str, String, String, u16, &str)> = vec![
        (
            SNAP,
            "/v1/snapshot".into(),
            "sorce=symbee".into(),
            400,
            "UNKNOWN_PARAMETER",
        ),
        (
            SNAP,
            "/v1/snapshot".into(),
            "source=".into(),
            400,
            "INVALID_PARAMETER",
        ),
        (
            SNAP,
            "/v1/snapshot".into(),
            "source=%ZZ".into(),
            400,
            "INVALID_PARAMETER",
        ),
        (
            SNAP,
            "/v1/snapshot".into(),
            format!("queueId={}", "x".repeat(600)),
            400,
            "PARAMETER_TOO_LONG",
        ),
        (
            QUEUE,
            "/v1/queues/%C3%28".into(),
            String::new(),
            400,
            "INVALID_PATH",
        ),
        (
            QUEUE,
            "/v1/queues/%ZZ".into(),
            String::new(),
            400,
            "INVALID_PATH",
        ),
        (
            QUEUE,
            "/v1/queues/a%0Ab".into(),
            String::new(),
            400,
            "INVALID_QUEUE_ID",
        ),
        (
            QUEUE,
            format!("/v1/queues/{long_id}"),
            String::new(),
            400,
            "PATH_TOO_LONG",
        ),
        (
            QUEUE,
            format!("/v1/queues/{}", "q".repeat(513)),
            String::new(),
            400,
            "INVALID_QUEUE_ID",
        ),
        (
            SNAP,
            "/v1/snapshot".into(),
            "queueId=%00".into(),
            400,
            "INVALID_PARAMETER",
        ),
        (
            SNAP,
            "/v1/snapshot".into(),
            "source=sym%0Abee".into(),
            400,
            "INVALID_PARAMETER",
        ),
        (
            QUEUE,
            "/v1/queues/email-customer-care".into(),
            "x=1".into(),
            400,
            "UNKNOWN_PARAMETER",
        ),
        (
            HEALTH,
            "/v1/health".into(),
            "verbose=true".into(),
            400,
            "UNKNOWN_PARAMETER",
        ),
    ];
    for (template, path, query, status, code) in cases {
        let answer = get(&world.api, template, &path, &query, &[]).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (status, code),
            "{path}?{query}"
        );
        assert_eq!(answer.header("cache-control"), Some("no-store"));
    }
    // Unknown routes: 404, documented as the API's catch-all. A path under
    // /v1/queues/ names a queue (ARNs hold slashes), so it is an unknown queue.
    for (path, code) in [
        ("/", "ROUTE_NOT_FOUND"),
        ("/v2/snapshot", "ROUTE_NOT_FOUND"),
        ("/v1/queues", "ROUTE_NOT_FOUND"),
        ("/v1/snapshots", "ROUTE_NOT_FOUND"),
        ("/v1/queues/a/history/extra/../x", "QUEUE_NOT_FOUND"),
    ] {
        let answer = send_event(&world.api, event("GET", path, "", &[])).await;
        assert_eq!(answer.status, 404, "{path}: {answer:?}");
        assert_eq!(answer.error_code(), code, "{path}");
    }
    // Methods: only GET and HEAD.
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let answer = send_event(&world.api, event(method, "/v1/snapshot", "", &[])).await;
        assert_eq!(answer.status, 405, "{method}");
        assert_eq!(answer.header("allow"), Some("GET, HEAD"));
        assert_eq!(answer.error_code(), "METHOD_NOT_ALLOWED");
    }
    // HEAD: a GET's status and headers, its length included, no body.
    for encoding in ["identity", "gzip"] {
        let headers = [("accept-encoding", encoding)];
        let get = send_event(&world.api, event("GET", "/v1/snapshot", "", &headers)).await;
        let head = send_event(&world.api, event("HEAD", "/v1/snapshot", "", &headers)).await;
        assert_eq!(head.status, 200);
        assert!(head.raw_body.is_empty());
        let sent = send_event_raw_len(&world.api, event("GET", "/v1/snapshot", "", &headers)).await;
        assert_eq!(
            head.header("content-length"),
            Some(sent.to_string().as_str()),
            "{encoding}"
        );
        assert_eq!(head.header("etag"), get.header("etag"));
        assert_eq!(
            head.header("content-encoding"),
            get.header("content-encoding")
        );
    }
}

#[tokio::test]
async fn a_malformed_event_is_a_400() {
    let world = world(vec![]).await;
    let mut no_method = fixture("events/apigw-get-snapshot.json");
    no_method["requestContext"]["http"]
        .as_object_mut()
        .unwrap()
        .remove("method");
    for event in [
        json!({}),
        json!([]),
        json!("GET /v1/snapshot"),
        json!({"requestContext": 5}),
        no_method,
    ] {
        let answer = send_event(&world.api, event.clone()).await;
        assert_eq!(answer.status, 400, "{event}");
        assert_eq!(answer.error_code(), "MALFORMED_EVENT");
    }
    let _ = &world.sdk;
}

#[tokio::test]
async fn the_fixture_event_itself_is_answered() {
    let world = world(vec![seed_snapshot(Duration::seconds(1))]).await;
    let answer = send_event(&world.api, fixture("events/apigw-get-snapshot.json")).await;
    assert_eq!(answer.status, 200);
    // The fixture asks for gzip, as browsers and most HTTP clients do.
    assert_eq!(answer.header("content-encoding"), Some("gzip"));
    openapi::assert_documented(SNAP, &answer);
}

#[tokio::test]
async fn a_hung_store_is_a_503_not_a_hung_request() {
    let sdk = black_hole_sdk().await;
    let api = build_api(
        reader_config("snapshots", &[("READ_TIMEOUT_MS", "300")]),
        &sdk,
    )
    .await;

    let answer = get(&api, QUEUE, "/v1/queues/email-customer-care", "", &[]).await;

    assert_eq!(answer.status, 503);
    assert_eq!(answer.error_code(), "STORE_UNAVAILABLE");
    assert_eq!(answer.json()["error"]["reason"], "Timeout");
    // A transient failure invites a retry.
    assert_eq!(answer.header("retry-after"), Some("1"));
}

#[tokio::test]
async fn the_wallboard_is_a_public_page_that_costs_a_304_to_reload() {
    // The page holds no data: it is served before any snapshot exists.
    let world = world(vec![]).await;
    // Its query string is the page's own (filters, the sign-in callback).
    let query = "source=connect&level=critical,warning&code=abc&state=xyz&whatever=1";
    let page = get(
        &world.api,
        WALLBOARD,
        "/wallboard",
        query,
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-encoding"), Some("gzip"));
    let html = String::from_utf8(page.raw_body.clone()).unwrap();
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(html.contains(r#"<main id="board""#));
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");

    let etag = page.header("etag").unwrap().to_owned();
    let again = get(
        &world.api,
        WALLBOARD,
        "/wallboard/",
        "",
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(again.status, 304);

    let head = send_event(&world.api, event("HEAD", "/wallboard", "", &[])).await;
    assert_eq!(head.status, 200);
    assert!(head.raw_body.is_empty());
    let post = send_event(&world.api, event("POST", "/wallboard", "", &[])).await;
    assert_eq!(post.status, 405);
}

/// `POST /mcp` through the Lambda handler, as API Gateway delivers it
/// (the body base64'd): every envelope of `fixtures/mcp/envelopes.json`
/// gets the status and JSON-RPC code it names, never a 5xx, and every
/// POST answer is one docs/openapi.json documents.
#[tokio::test]
async fn mcp_answers_every_fixture_envelope_as_the_protocol_asks() {
    let world = world(vec![seed_snapshot(Duration::seconds(1))]).await;
    let cases: Vec<Value> = serde_json::from_slice(
        &std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fixtures/mcp/envelopes.json"
        ))
        .unwrap(),
    )
    .unwrap();
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let method = case["method"].as_str().unwrap();
        let headers: Vec<(String, String)> = case["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap().to_owned()))
            .collect();
        let borrowed: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let body = match case.get("raw") {
            Some(raw) => raw.as_str().unwrap().as_bytes().to_vec(),
            None => serde_json::to_vec(&case["body"]).unwrap(),
        };
        let mut request = event(method, "/mcp", "", &borrowed);
        request["body"] = json!(base64::engine::general_purpose::STANDARD.encode(&body));
        request["isBase64Encoded"] = json!(true);
        let answer = send_event(&world.api, request).await;
        let expect = &case["expect"];
        assert_eq!(
            u64::from(answer.status),
            expect["status"].as_u64().unwrap(),
            "{name}: {answer:?}"
        );
        assert!(
            answer.header("mcp-session-id").is_none(),
            "{name}: no session is minted"
        );
        if let Some(code) = expect.get("code") {
            assert_eq!(&answer.json()["error"]["code"], code, "{name}: {answer:?}");
        }
        if answer.status == 202 {
            assert!(answer.raw_body.is_empty(), "{name}: a 202 has no body");
        }
        match expect.get("era").and_then(Value::as_str) {
            Some("modern") => {
                assert_eq!(answer.json()["result"]["resultType"], "complete", "{name}");
            }
            Some(version) => {
                let result = &answer.json()["result"];
                assert!(result.get("resultType").is_none(), "{name}: {result}");
                if case["body"]["method"] == "initialize" {
                    assert_eq!(result["protocolVersion"], version, "{name}");
                    assert_eq!(result["serverInfo"]["name"], "queue-stats", "{name}");
                }
            }
            None => {}
        }
        if method == "POST" && answer.status != 415 {
            openapi::assert_documented_as("/mcp", "post", &answer);
        }
    }
}

/// Each tool answers what the HTTP API answers for the same snapshot.
#[tokio::test]
async fn mcp_tools_answer_what_the_http_api_answers() {
    let world = world(vec![seed_snapshot(Duration::seconds(1))]).await;
    let call = |name: &str, arguments: Value| {
        let body = json!({
            "jsonrpc": "2.0", "id": 9, "method": "tools/call",
            "params": { "name": name, "arguments": arguments, "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}
            }}
        });
        let mut request = event(
            "POST",
            "/mcp",
            "",
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
                ("mcp-name", name),
            ],
        );
        request["body"] = json!(body.to_string());
        request["isBase64Encoded"] = json!(false);
        let api = &world.api;
        async move { send_event(api, request).await.json()["result"].clone() }
    };
    let snapshot = get(&world.api, "/v1/snapshot", "/v1/snapshot", "", &[]).await;
    let snapshot = snapshot.json();

    let listed = call("list_queues", json!({ "limit": 500 })).await;
    assert_eq!(listed["isError"], false, "{listed}");
    let listed = &listed["structuredContent"];
    assert_eq!(listed["snapshotId"], snapshot["snapshotId"]);
    assert_eq!(
        listed["total"],
        snapshot["queues"].as_array().unwrap().len()
    );
    for queue in listed["queues"].as_array().unwrap() {
        assert!(
            snapshot["queues"].as_array().unwrap().contains(queue),
            "{queue}"
        );
    }

    let first = &snapshot["queues"][0];
    let id = first["queueId"].as_str().unwrap();
    let one = call(
        "get_queue",
        json!({ "queueId": id, "source": first["source"] }),
    )
    .await;
    let http = get(
        &world.api,
        "/v1/queues/{queueId}",
        &format!("/v1/queues/{id}"),
        &format!("source={}", first["source"].as_str().unwrap()),
        &[],
    )
    .await;
    assert_eq!(one["structuredContent"]["queue"], http.json()["queue"]);
    assert_eq!(one["content"][0]["type"], "text");

    let health = call("source_health", json!({})).await;
    let http = get(&world.api, "/v1/health", "/v1/health", "", &[]).await;
    assert_eq!(
        health["structuredContent"]["sources"],
        http.json()["sources"]
    );

    // A bad argument is the tool's error, for the model to read.
    let bad = call("queue_history", json!({ "queueId": id, "minutes": 0 })).await;
    assert_eq!(bad["isError"], true, "{bad}");
    let missing = call("get_queue", json!({ "queueId": "no-such-queue" })).await;
    assert_eq!(missing["isError"], true, "{missing}");
    assert!(
        missing["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("no queue")
    );
}
