//! `local-run`: the whole pipeline locally (see `scripts/local.sh`, which
//! builds everything, starts moto and runs this).
//!
//! `local-run` runs until Ctrl-C; `local-run --cycles N` runs the poller N
//! times back to back, checks that snapshots reached DynamoDB and Kinesis
//! and that the API and the contact flow answer with them, and exits.

use std::time::Duration;

use local_run::{Running, Settings, invoke_poller, start};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cycles = match args.as_slice() {
        [] => None,
        [flag, n] if flag == "--cycles" => match n.parse::<u32>() {
            Ok(n) if n > 0 => Some(n),
            _ => exit_with("--cycles takes a whole number above 0"),
        },
        _ => exit_with("usage: local-run [--cycles N]"),
    };
    let mut settings = Settings::from_env().unwrap_or_else(|e| exit_with(&e));
    if cycles.is_some() {
        // Bounded mode: short invocations back to back, with room between
        // polls for contact events (the poller drains them in whole
        // seconds of SQS long polling).
        let events = settings.contact_events;
        settings.poll_interval_seconds = if events { 3 } else { 1 };
        settings.poller_timeout_seconds = if events { 8 } else { 4 };
    }
    let running = start(&settings).await.unwrap_or_else(|e| exit_with(&e));
    let status = match cycles {
        Some(n) => bounded(&running, &settings, n).await,
        None => forever(&running, &settings).await,
    };
    running.stop().await;
    std::process::exit(status);
}

fn exit_with(message: &str) -> ! {
    eprintln!("local-run: {message}");
    std::process::exit(2)
}

fn banner(running: &Running, settings: &Settings) {
    let url = &running.api_url;
    println!(
        r#"
queue-stats is running locally ({queues} simulated queues, seed {seed}): Symbee, Amazon
Connect, an 8x8 PBX (SIM_EIGHTX8_QUEUES=0 turns 8x8 off) and a Clarity Connect site
pushing over SignalR (SIM_CLARITY_QUEUES=0 turns Clarity off).

  Wallboard    {url}/wallboard   (open it in a browser)
  API          {url}/v1/snapshot
               {url}/v1/health
               {url}/v1/queues/email-customer-care
               {url}/v1/queues/email-customer-care/history?minutes=15
  Contact flow curl -s {url}/_invoke/contact-flow -d @fixtures/events/connect-contact-flow.json
  Kinesis      scripts/tail.sh          (decodes and prints records as they arrive)

The poller runs every {schedule} s (cycles every {interval} s inside each run); the Symbee
API key rotates every {rotation} s. Ctrl-C stops everything.
"#,
        queues = settings.expected_queues(),
        seed = settings.sim_seed,
        schedule = settings.schedule_seconds,
        interval = settings.poll_interval_seconds,
        rotation = settings.key_rotation_seconds,
    );
}

async fn forever(running: &Running, settings: &Settings) -> i32 {
    banner(running, settings);
    let mut schedule = tokio::time::interval(Duration::from_secs(settings.schedule_seconds.max(1)));
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = schedule.tick() => {}
            _ = &mut shutdown => break,
        }
        let timeout = Duration::from_secs(settings.poller_timeout_seconds);
        // An invocation lasts up to a minute: Ctrl-C must not wait for it.
        tokio::select! {
            result = invoke_poller(running, timeout) => match result {
                Ok(summary) => eprintln!("[local] poller invocation done: {summary}"),
                Err(error) => eprintln!("[local] poller invocation failed: {error}"),
            },
            _ = &mut shutdown => break,
        }
    }
    eprintln!("[local] stopping");
    0
}

/// Ctrl-C or a polite kill (SIGTERM).
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("signal handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Runs the poller `n` times, then checks every way out of the pipeline.
async fn bounded(running: &Running, settings: &Settings, n: u32) -> i32 {
    let timeout = Duration::from_secs(settings.poller_timeout_seconds);
    let mut checks: Vec<(String, Result<(), String>)> = Vec::new();
    for i in 1..=n {
        let result = invoke_poller(running, timeout).await.and_then(|summary| {
            eprintln!("[local] poller invocation {i}: {summary}");
            (summary["cyclesWithWrites"].as_u64().unwrap_or(0) > 0)
                .then_some(())
                .ok_or_else(|| format!("no cycle wrote anything: {summary}"))
        });
        checks.push((format!("poller invocation {i} wrote snapshots"), result));
    }
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let url = format!("{}{path}", running.api_url);
        let http = http.clone();
        async move {
            let response = http
                .get(&url)
                .send()
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            let status = response.status().as_u16();
            let bytes = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
            let body: serde_json::Value =
                serde_json::from_slice(&bytes).map_err(|e| format!("{url}: {e}"))?;
            Ok::<_, String>((status, body))
        }
    };
    let expected_queues = settings.expected_queues();
    let snapshot = get("/v1/snapshot").await;
    checks.push((
        format!("GET /v1/snapshot has all {expected_queues} queues"),
        snapshot.and_then(|(status, body)| {
            let queues = body["queues"].as_array().map_or(0, Vec::len);
            (status == 200 && queues == expected_queues)
                .then_some(())
                .ok_or_else(|| format!("status {status}, {queues} queues"))
        }),
    ));
    checks.push((
        "GET /v1/health is ok".into(),
        get("/v1/health").await.and_then(|(status, body)| {
            (status == 200
                && body["sources"]
                    .as_array()
                    .is_some_and(|s| s.iter().all(|s| s["status"] == "ok")))
            .then_some(())
            .ok_or_else(|| format!("status {status}: {body}"))
        }),
    ));
    let instances = settings.connect_instances.len();
    checks.push((
        format!("GET /v1/health names each of the {instances} Connect instances"),
        get("/v1/health").await.and_then(|(status, body)| {
            let named = body["sources"].as_array().map_or(0, |s| {
                s.iter().filter(|s| s["instanceId"].is_string()).count()
            });
            (status == 200 && named == instances)
                .then_some(())
                .ok_or_else(|| format!("status {status}, {named} instances named"))
        }),
    ));
    if let Some(last) = settings.connect_instances.last() {
        let id = last.rsplit('/').next().unwrap_or_default().to_owned();
        checks.push((
            format!("GET /v1/snapshot?instanceId={id} has that instance's queues only"),
            get(&format!("/v1/snapshot?instanceId={id}"))
                .await
                .and_then(|(status, body)| {
                    let queues = body["queues"].as_array().cloned().unwrap_or_default();
                    (status == 200
                        && !queues.is_empty()
                        && queues.iter().all(|q| q["instanceId"] == id.as_str()))
                    .then_some(())
                    .ok_or_else(|| format!("status {status}, {} queues", queues.len()))
                }),
        ));
    }
    checks.push((
        "GET /v1/queues/email-customer-care answers".into(),
        get("/v1/queues/email-customer-care")
            .await
            .and_then(|(status, _)| {
                (status == 200)
                    .then_some(())
                    .ok_or_else(|| format!("status {status}"))
            }),
    ));
    let event: serde_json::Value = serde_json::from_str(include_str!(
        "../../fixtures/events/connect-contact-flow.json"
    ))
    .unwrap();
    checks.push((
        "the contact flow finds the fixture's queue".into(),
        running
            .functions
            .contact_flow
            .invoke(&event, Duration::from_secs(8))
            .await
            .and_then(|answer| {
                let answer: serde_json::Value =
                    serde_json::from_slice(&answer).map_err(|e| e.to_string())?;
                (answer["found"] == "true")
                    .then_some(())
                    .ok_or_else(|| answer.to_string())
            }),
    ));
    // Payloads the runtime cannot parse still get the attribute map.
    let mut answers = Vec::new();
    for payload in [
        &b""[..],
        b"{\"Details\":",
        b"{\"a\":\"\xff\"}",
        &[b'['; 5000],
    ] {
        answers.push(
            running
                .functions
                .contact_flow
                .invoke_raw(payload.to_vec(), Duration::from_secs(8))
                .await
                .and_then(|answer| {
                    let answer: serde_json::Value =
                        serde_json::from_slice(&answer).map_err(|e| e.to_string())?;
                    (answer["status"] == "not_found")
                        .then_some(())
                        .ok_or_else(|| answer.to_string())
                }),
        );
    }
    checks.push((
        "the contact flow answers payloads that are not JSON".into(),
        answers.into_iter().collect(),
    ));
    checks.extend(gateway_checks(running).await);
    let records = count_records(running, settings).await;
    checks.push((
        format!(
            "Kinesis has at least {} records",
            expected_queues * n as usize
        ),
        records.clone().and_then(|(count, _)| {
            (count >= expected_queues * n as usize)
                .then_some(())
                .ok_or_else(|| format!("{count} records"))
        }),
    ));
    if settings.contact_events {
        checks.push((
            "contact events moved Connect queues between polls (records with updatedBy events)"
                .into(),
            records.and_then(|(_, moved)| {
                (moved > 0)
                    .then_some(())
                    .ok_or_else(|| "no record was moved by events".to_owned())
            }),
        ));
        checks.push((
            "every Connect queue says how accurate its wait estimate has been".into(),
            get("/v1/snapshot").await.and_then(|(_, body)| {
                let connect: Vec<_> = body["queues"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|q| q["source"] == "connect")
                    .collect();
                let missing = connect
                    .iter()
                    .filter(|q| !q["estimateAccuracy"]["contacts"].is_u64())
                    .count();
                (!connect.is_empty() && missing == 0)
                    .then_some(())
                    .ok_or_else(|| format!("{missing} of {} without", connect.len()))
            }),
        ));
    }

    let failed = checks.iter().filter(|(_, r)| r.is_err()).count();
    for (name, result) in &checks {
        match result {
            Ok(()) => println!("ok    {name}"),
            Err(why) => println!("FAIL  {name}: {why}"),
        }
    }
    println!(
        "local-run: {} passed, {failed} failed",
        checks.len() - failed
    );
    i32::from(failed > 0)
}

/// HTTP edges of the local gateway and the API behind it.
async fn gateway_checks(running: &Running) -> Vec<(String, Result<(), String>)> {
    let http = reqwest::Client::new();
    let url = format!("{}/v1/snapshot", running.api_url);
    let head_length = async {
        let get = http.get(&url).send().await.map_err(|e| e.to_string())?;
        let body = get.bytes().await.map_err(|e| e.to_string())?;
        let head = http.head(&url).send().await.map_err(|e| e.to_string())?;
        let length = head
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (length == body.len().to_string())
            .then_some(())
            .ok_or_else(|| format!("HEAD says {length:?}, GET sent {} bytes", body.len()))
    };
    let too_large = async {
        let response = http
            .post(format!("{}/_invoke/contact-flow", running.api_url))
            .body(vec![b' '; 7 * 1024 * 1024])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        let body: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("status {status}, body not JSON: {e}"))?;
        (status == 413 && body["error"]["code"] == "REQUEST_TOO_LARGE")
            .then_some(())
            .ok_or_else(|| format!("status {status}: {body}"))
    };
    let wallboard = async {
        let response = http
            .get(format!("{}/wallboard", running.api_url))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let html = response
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
        let body = response.text().await.map_err(|e| e.to_string())?;
        (status == 200 && html && body.contains("id=\"board\""))
            .then_some(())
            .ok_or_else(|| format!("status {status}, html {html}"))
    };
    vec![
        ("GET /wallboard serves the page".into(), wallboard.await),
        (
            "HEAD /v1/snapshot has the GET's content-length".into(),
            head_length.await,
        ),
        (
            "an oversized request gets a JSON 413".into(),
            too_large.await,
        ),
    ]
}

/// Every record on the stream, and how many of them contact events moved.
async fn count_records(running: &Running, settings: &Settings) -> Result<(usize, usize), String> {
    let client = aws_sdk_kinesis::Client::new(&running.sdk);
    let shards = client
        .list_shards()
        .stream_name(&settings.stream)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let (mut count, mut moved) = (0, 0);
    for shard in shards.shards() {
        let mut iterator = client
            .get_shard_iterator()
            .stream_name(&settings.stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?
            .shard_iterator
            .unwrap_or_default();
        loop {
            let page = client
                .get_records()
                .shard_iterator(&iterator)
                .send()
                .await
                .map_err(|e| format!("{e:?}"))?;
            if page.records().is_empty() {
                break;
            }
            count += page.records().len();
            moved += page
                .records()
                .iter()
                .filter(|r| {
                    serde_json::from_slice::<serde_json::Value>(r.data().as_ref())
                        .is_ok_and(|record| record["queue"]["updatedBy"] == "events")
                })
                .count();
            match page.next_shard_iterator() {
                Some(next) => iterator = next.to_owned(),
                None => break,
            }
        }
    }
    Ok((count, moved))
}
