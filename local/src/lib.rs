//! The whole pipeline on one machine: the local AWS emulator (moto, started
//! by `scripts/local.sh`), a simulated contact-center floor behind the
//! Symbee and Connect stand-ins, and the real function binaries run through
//! a local Lambda runtime API: the poller on its schedule, the API behind
//! a local HTTP gateway, the contact flow on demand.

pub mod gateway;
pub mod runtime;
pub mod setup;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use standins::clarity::ClarityStandin;
use standins::connect::{ConnectStandin, ServiceLimits};
use standins::contact_events::EventSender;
use standins::eight_by_eight::EightByEightStandin;
use standins::simulation::Floor;
use standins::symbee::{ExpectedKey, SymbeeStandin, Tenant};
use tokio::sync::Mutex;

use gateway::Functions;
use runtime::Function;

/// Local settings: the deployment's variables with local defaults.
pub struct Settings {
    pub table: String,
    pub stream: String,
    pub company_code: String,
    pub environment: String,
    pub secrets_region: String,
    pub secret_id: String,
    /// The simulated Connect instances (`SIM_CONNECT_INSTANCES`, ARNs):
    /// by default two, in us-east-1 and us-west-2, as a Global Resiliency
    /// pair would be.
    pub connect_instances: Vec<String>,
    pub poll_interval_seconds: u64,
    pub sim_queues: usize,
    /// Call queues of the simulated 8x8 PBX (`SIM_EIGHTX8_QUEUES`, 0 = 8x8 off).
    pub sim_eight_by_eight_queues: usize,
    /// Queues of the simulated Clarity Connect site (`SIM_CLARITY_QUEUES`, 0 = Clarity off).
    pub sim_clarity_queues: usize,
    /// Whether the floor's Connect contacts send their contact events to
    /// the poller's SQS queue on the emulator (`SIM_CONTACT_EVENTS`, on
    /// unless `false`), so figures move between polls.
    pub contact_events: bool,
    pub sim_seed: u64,
    pub sim_speed: f64,
    pub key_rotation_seconds: u64,
    pub api_port: u16,
    pub schedule_seconds: u64,
    pub poller_timeout_seconds: u64,
    pub bin_dir: PathBuf,
}

fn var(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn number<T: std::str::FromStr>(name: &str, default: &str) -> Result<T, String> {
    let text = var(name, default);
    text.parse()
        .map_err(|_| format!("{name}: not a number: {text:?}"))
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        Ok(Self {
            table: var("SNAPSHOT_TABLE", "queue-stats-local"),
            stream: var("SNAPSHOT_STREAM", "queue-stats-local"),
            company_code: var("SYMBEE_COMPANY_CODE", "abc-gadgets"),
            environment: var("SYMBEE_ENVIRONMENT", "local"),
            secrets_region: var("SYMBEE_SECRETS_REGION", "us-east-1"),
            secret_id: var("SYMBEE_API_KEY_SECRET_ID", "SYMBEE_CONNECT_API_KEY"),
            connect_instances: var(
                "SIM_CONNECT_INSTANCES",
                "arn:aws:connect:us-east-1:000000000000:instance/10a4c4eb-f57e-4d4c-b602-bf39176ced07,\
                 arn:aws:connect:us-west-2:000000000000:instance/20b5d5fc-0a8f-4e5d-9713-c04a287dfe18",
            )
            .split(',')
            .map(|arn| arn.trim().to_owned())
            .filter(|arn| !arn.is_empty())
            .collect(),
            poll_interval_seconds: number("POLL_INTERVAL_SECONDS", "10")?,
            sim_queues: number("SIM_QUEUES", "30")?,
            sim_eight_by_eight_queues: number("SIM_EIGHTX8_QUEUES", "8")?,
            sim_clarity_queues: number("SIM_CLARITY_QUEUES", "6")?,
            contact_events: queue_stats::settings::Settings::from_env()
                .boolean("SIM_CONTACT_EVENTS", true)
                .map_err(|e| e.to_string())?,
            sim_seed: number("SIM_SEED", "42")?,
            sim_speed: number("SIM_SPEED", "1")?,
            key_rotation_seconds: number("SIM_KEY_ROTATION_SECONDS", "300")?,
            api_port: number("LOCAL_API_PORT", "3000")?,
            schedule_seconds: number("LOCAL_SCHEDULE_SECONDS", "60")?,
            poller_timeout_seconds: number("LOCAL_POLLER_TIMEOUT_SECONDS", "60")?,
            bin_dir: std::env::var("LOCAL_BIN_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| exe.parent().map(PathBuf::from).unwrap_or_default()),
        })
    }
}

impl Settings {
    /// Every queue a snapshot should hold: the floor's, and the 8x8 PBX's
    /// live ones (the stand-in marks every seventh deleted).
    pub fn expected_queues(&self) -> usize {
        self.sim_queues
            + standins::eight_by_eight::synthetic_queues(self.sim_eight_by_eight_queues)
                .iter()
                .filter(|q| !q.deleted)
                .count()
            + self.sim_clarity_queues
    }
}

/// Starts the simulated 8x8 PBX: its credentials secret on the emulator,
/// the stand-in, and figures that move every second. Returns the poller's
/// settings for it.
async fn start_eight_by_eight(
    sdk: &aws_config::SdkConfig,
    queues: usize,
) -> Result<(EightByEightStandin, Vec<(&'static str, String)>), String> {
    use standins::eight_by_eight::{Accepted, synthetic_queues};
    let accepted = Accepted {
        api_key: "local-8x8-apikey".into(),
        username: "wallboard@example.com".into(),
        password: "local-8x8-password".into(),
    };
    let secret = serde_json::json!({
        "apiKey": accepted.api_key, "username": accepted.username, "password": accepted.password,
    });
    standins::symbee::install_or_rotate_key(
        &aws_sdk_secretsmanager::Client::new(sdk),
        "EIGHTX8_WORK_ANALYTICS",
        &secret.to_string(),
    )
    .await?;
    let pbx = "localPbx01";
    let standin = EightByEightStandin::start("127.0.0.1:0".parse().unwrap(), pbx, accepted)
        .await
        .map_err(|e| format!("8x8 stand-in: {e}"))?;
    let base = synthetic_queues(queues);
    standin.set_queues(base.clone()).await;
    let moving = standin.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        for second in 0u64.. {
            tick.tick().await;
            // A slow wave per queue: calls arrive, wait, and are answered.
            let queues = base
                .iter()
                .enumerate()
                .map(|(i, q)| {
                    let phase = (second / 5 + i as u64 * 3) % 12;
                    let waiting = if phase < 6 { phase } else { 12 - phase };
                    let mut q = q.clone();
                    q.waiting = waiting;
                    q.longest_wait_secs = waiting * 17 + (second % 10);
                    q.available = q.eligible.saturating_sub(q.handling + waiting.min(3));
                    q
                })
                .collect();
            moving.set_queues(queues).await;
        }
    });
    let env = vec![
        ("EIGHTX8_PBX_ID", pbx.to_owned()),
        ("EIGHTX8_BASE_URL", standin.base_url()),
        ("EIGHTX8_SECRET_ID", "EIGHTX8_WORK_ANALYTICS".to_owned()),
    ];
    Ok((standin, env))
}

/// Starts the simulated Clarity Connect site: its service account's secret
/// on the emulator, the stand-in (NTLM, JWT, SignalR), and a floor that
/// moves every two seconds, pushed to the poller's subscription. Returns
/// the poller's settings for it.
async fn start_clarity(
    sdk: &aws_config::SdkConfig,
    queues: usize,
) -> Result<(ClarityStandin, Vec<(&'static str, String)>), String> {
    use standins::clarity::{Accepted, advance, synthetic_queues};
    let accepted = Accepted {
        username: "LOCAL\\svc-queue-stats".into(),
        password: "local-clarity-password".into(),
        client_id: "0224C392-3845-4AC0-B1A0-D63706181BA7".into(),
    };
    let secret =
        serde_json::json!({ "username": accepted.username, "password": accepted.password });
    standins::symbee::install_or_rotate_key(
        &aws_sdk_secretsmanager::Client::new(sdk),
        "CLARITY_CONNECT_SERVICE_ACCOUNT",
        &secret.to_string(),
    )
    .await?;
    let client_id = accepted.client_id.clone();
    let standin = ClarityStandin::start("127.0.0.1:0".parse().unwrap(), accepted)
        .await
        .map_err(|e| format!("Clarity stand-in: {e}"))?;
    let mut floor = synthetic_queues(queues);
    standin.set_queues(floor.clone()).await;
    let moving = standin.clone();
    tokio::spawn(async move {
        let mut rng = fastrand::Rng::with_seed(11);
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tick.tick().await;
            advance(&mut floor, 2, &mut rng);
            moving.set_queues(floor.clone()).await;
        }
    });
    let env = vec![
        ("CLARITY_BASE_URL", standin.base_url()),
        ("CLARITY_CLIENT_ID", client_id),
        (
            "CLARITY_SECRET_ID",
            "CLARITY_CONNECT_SERVICE_ACCOUNT".to_owned(),
        ),
    ];
    Ok((standin, env))
}

/// The scheduled event EventBridge sends the poller.
pub fn scheduled_event() -> serde_json::Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:000000000000:rule/queue-stats-poller-schedule"],
        "detail": {}
    })
}

/// Everything running, for the caller to drive or stop.
pub struct Running {
    pub poller: Function,
    pub functions: Arc<Functions>,
    pub api_url: String,
    pub sdk: aws_config::SdkConfig,
    pub floor: Arc<Mutex<Floor>>,
    /// The stand-ins, for fault injection (the soak).
    pub symbee: SymbeeStandin,
    pub connect: ConnectStandin,
    pub eight_by_eight: Option<EightByEightStandin>,
    pub clarity: Option<ClarityStandin>,
}

impl Running {
    pub async fn stop(&self) {
        self.poller.stop().await;
        self.functions.api.stop().await;
        self.functions.contact_flow.stop().await;
    }
}

/// Gives each simulated Connect instance its own queues of the floor.
async fn serve_connect_floor(connect: &ConnectStandin, floor: &Floor) {
    let mut by_instance: std::collections::HashMap<String, Vec<_>> =
        std::collections::HashMap::new();
    for queue in floor.connect_queues() {
        let instance = queue
            .arn
            .split("/queue/")
            .next()
            .and_then(|arn| arn.rsplit('/').next())
            .unwrap_or_default()
            .to_owned();
        by_instance.entry(instance).or_default().push(queue);
    }
    for (instance, queues) in by_instance {
        connect.set_instance_queues(&instance, queues).await;
    }
}

/// Sets up the emulator's resources, starts the stand-ins, the simulation
/// and the functions, and serves the gateway.
pub async fn start(settings: &Settings) -> Result<Running, String> {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        // Never let a local run reach a real AWS account.
        return Err("AWS_ENDPOINT_URL is not set: start the local run with scripts/local.sh, which starts moto and points the SDK at it".into());
    }
    // The port first: a clash is reported before anything starts.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", settings.api_port)).await.map_err(|e| {
        format!(
            "cannot listen on 127.0.0.1:{}: {e}. Another program (or an earlier run) has the port: set LOCAL_API_PORT to a free one.",
            settings.api_port
        )
    })?;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    setup::table(&sdk, &settings.table).await?;
    setup::stream(&sdk, &settings.stream).await?;
    let secrets_sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(settings.secrets_region.clone()))
        .load()
        .await;
    standins::symbee::install_or_rotate_key(
        &aws_sdk_secretsmanager::Client::new(&secrets_sdk),
        &settings.secret_id,
        "local-key-1",
    )
    .await?;

    let symbee = SymbeeStandin::start(
        "127.0.0.1:0".parse().unwrap(),
        Tenant {
            company_code: settings.company_code.clone(),
            environment: settings.environment.clone(),
            secrets_region: settings.secrets_region.clone(),
        },
        ExpectedKey::SecretsManager {
            client: aws_sdk_secretsmanager::Client::new(&secrets_sdk),
            secret_id: settings.secret_id.clone(),
        },
    )
    .await
    .map_err(|e| format!("Symbee stand-in: {e}"))?;
    let instances = settings
        .connect_instances
        .iter()
        .map(|arn| {
            let region = arn.split(':').nth(3).unwrap_or("us-east-1");
            let id = arn.rsplit('/').next().unwrap_or_default();
            standins::connect::StandinInstance::new(id, region, &format!("local-{region}"))
        })
        .collect();
    let connect = ConnectStandin::start_instances(
        "127.0.0.1:0".parse().unwrap(),
        instances,
        ServiceLimits::default(),
    )
    .await
    .map_err(|e| format!("Connect stand-in: {e}"))?;

    // Contact events, as the template's rule would deliver them: a queue
    // on the emulator's SQS that the poller drains between polls.
    let events = if settings.contact_events {
        let sender = EventSender::create(
            aws_sdk_sqs::Client::new(&sdk),
            &format!("{}-contact-events", settings.table),
        )
        .await?;
        Some(sender)
    } else {
        None
    };

    // The floor lives on: one step a second, pushed to both stand-ins,
    // its Connect contacts' events to the queue.
    let floor = Arc::new(Mutex::new(Floor::new(
        settings.sim_seed,
        settings.sim_queues,
        &settings.connect_instances,
    )));
    {
        let mut f = floor.lock().await;
        f.advance(1800.0); // start mid-morning, not at an empty dawn
        if events.is_some() {
            f.record_contact_events();
        }
        symbee.set_queues(f.symbee_queues()).await;
        serve_connect_floor(&connect, &f).await;
    }
    let outbox = events.clone().map(|sender| {
        // One sender, in order: a slow call never lets a later event
        // overtake. Bounded: a floor larger than the emulator can take
        // drops a second's events (said once a minute) rather than grow.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<serde_json::Value>>(30);
        tokio::spawn(async move {
            while let Some(batch) = rx.recv().await {
                if let Err(error) = sender.send(&batch).await {
                    eprintln!("[local] contact events not sent: {error}");
                }
            }
        });
        tx
    });
    let (sim_floor, sim_symbee, sim_connect, speed) = (
        floor.clone(),
        symbee.clone(),
        connect.clone(),
        settings.sim_speed,
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut dropped = 0u64;
        loop {
            tick.tick().await;
            let mut f = sim_floor.lock().await;
            f.advance(speed);
            sim_symbee.set_queues(f.symbee_queues()).await;
            serve_connect_floor(&sim_connect, &f).await;
            if let Some(outbox) = &outbox {
                let events = standins::contact_events::take_events(&mut f, speed);
                if !events.is_empty() && outbox.try_send(events).is_err() {
                    dropped += 1;
                    if dropped % 60 == 1 {
                        eprintln!(
                            "[local] contact events are coming faster than the emulator's SQS takes them: a second's events dropped ({dropped} so far); the next poll corrects the figures"
                        );
                    }
                }
            }
        }
    });
    // The key rotates now and then, as Symbee's does.
    if settings.key_rotation_seconds > 0 {
        let rotation = aws_sdk_secretsmanager::Client::new(&secrets_sdk);
        let (secret_id, every) = (settings.secret_id.clone(), settings.key_rotation_seconds);
        tokio::spawn(async move {
            for version in 2.. {
                tokio::time::sleep(Duration::from_secs(every)).await;
                let key = format!("local-key-{version}");
                match standins::symbee::install_or_rotate_key(&rotation, &secret_id, &key).await {
                    Ok(()) => eprintln!("[local] rotated the Symbee API key (version {version})"),
                    Err(e) => eprintln!("[local] key rotation failed: {e}"),
                }
            }
        });
    }

    let (eight_by_eight, eight_by_eight_env) = if settings.sim_eight_by_eight_queues > 0 {
        let (standin, env) = start_eight_by_eight(&sdk, settings.sim_eight_by_eight_queues).await?;
        (Some(standin), env)
    } else {
        (None, Vec::new())
    };
    let (clarity, clarity_env) = if settings.sim_clarity_queues > 0 {
        let (standin, env) = start_clarity(&sdk, settings.sim_clarity_queues).await?;
        (Some(standin), env)
    } else {
        (None, Vec::new())
    };
    let env: Vec<(String, String)> = [
        ("SNAPSHOT_TABLE", settings.table.clone()),
        ("SNAPSHOT_STREAM", settings.stream.clone()),
        (
            "POLL_INTERVAL_SECONDS",
            settings.poll_interval_seconds.to_string(),
        ),
        ("SYMBEE_COMPANY_CODE", settings.company_code.clone()),
        ("SYMBEE_ENVIRONMENT", settings.environment.clone()),
        ("SYMBEE_SECRETS_REGION", settings.secrets_region.clone()),
        ("SYMBEE_API_KEY_SECRET_ID", settings.secret_id.clone()),
        ("SYMBEE_BASE_URL", symbee.base_url()),
        ("CONNECT_INSTANCES", settings.connect_instances.join(",")),
        // The real SDK client finds the Connect stand-in the standard way.
        ("AWS_ENDPOINT_URL_CONNECT", connect.endpoint()),
    ]
    .into_iter()
    .chain(
        events
            .as_ref()
            .map(|sender| ("CONNECT_CONTACT_EVENTS_QUEUE_URL", sender.url().to_owned())),
    )
    .chain(eight_by_eight_env)
    .chain(clarity_env)
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let binary = |name: &str| settings.bin_dir.join(name);
    let poller = Function::start("queue-stats-poller", &binary("poller"), &env)
        .await
        .map_err(|e| e.to_string())?;
    let functions = Arc::new(Functions {
        api: Function::start("queue-stats-api", &binary("api"), &env)
            .await
            .map_err(|e| e.to_string())?,
        contact_flow: Function::start("queue-stats-contact-flow", &binary("contact-flow"), &env)
            .await
            .map_err(|e| e.to_string())?,
    });

    let api_url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let app = gateway::router(functions.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(Running {
        poller,
        functions,
        api_url,
        sdk,
        floor,
        symbee,
        connect,
        eight_by_eight,
        clarity,
    })
}

/// Invokes the poller once, as the schedule does, and says how it went.
pub async fn invoke_poller(
    running: &Running,
    timeout: Duration,
) -> Result<serde_json::Value, String> {
    let answer = running.poller.invoke(&scheduled_event(), timeout).await?;
    serde_json::from_slice(&answer).map_err(|e| format!("poller answer is not JSON: {e}"))
}
