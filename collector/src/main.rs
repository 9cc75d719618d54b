//! `collector`: runs the collector, or checks a configuration file (`collector check FILE`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, AtomicU32};
use std::sync::{Arc, RwLock};

use std::time::Duration;

use clap::{Parser, Subcommand};
use collector::catalog_source::{self, Take};
use collector::deliver::{Settings, Worker};
use collector::logging::LogFormat;
use collector::postback::Policy;
use collector::queue::{Queue, QueueOptions, SinkCounts};
use collector::server::{harden, serve, stop_signal, Limits, RateLimits};
use collector::store::{Durability, Store, StoreOptions};
use collector::{catalog, router, App, CONFIG_PLACEHOLDER};

/// The demo's configuration, used when neither `--config` nor the database has one.
const DEMO_CONFIG: &str = "collector/demo.json";

#[derive(Parser)]
#[command(version, about = "The Clickscript collector")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Configuration file (organizations, events, campaigns). It is taken when the database has
    /// no catalog or an equal one; when the stored catalog (with the admin API's changes)
    /// differs, the collector says what differs and starts only with --catalog. Without it the
    /// collector starts from the stored catalog, or from collector/demo.json when there is none.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Which catalog to take when --config FILE and the catalog stored in the database differ:
    /// `file` (the file replaces the stored catalog, the admin API's changes with it) or `stored`
    /// (the stored catalog is kept, the file ignored).
    #[arg(long, value_enum, requires = "config")]
    catalog: Option<Take>,
    /// The database: a SQLite file (one machine), or a PostgreSQL URL
    /// (`postgres://user:password@host:port/database`) that any number of collectors share.
    /// From CLICKSCRIPT_DB too, which keeps a password out of the process list.
    #[arg(
        long,
        env = "CLICKSCRIPT_DB",
        hide_env_values = true,
        default_value = "clickscript.db",
        global = true
    )]
    db: String,
    /// PostgreSQL: a CA certificate (PEM) the server's certificate must chain to (and name its
    /// host); without it, TLS is used when the server offers it (`sslmode=prefer`, or `require`
    /// in the URL) and its certificate is not checked, as libpq does.
    #[arg(long, global = true)]
    db_ca: Option<PathBuf>,
    /// PostgreSQL: connections this collector keeps to the database, at most.
    #[arg(long, default_value_t = 16, global = true)]
    pool_size: usize,
    /// How often (ms) the collector asks the database whether another collector changed the
    /// catalog; a change made through any collector is served by all within this time.
    #[arg(long, default_value_t = 1000, global = true)]
    catalog_refresh_ms: u64,
    /// The ingest log: a NATS server with JetStream (`nats://host:4222`). A batch is answered
    /// once the stream holds it, and `collector sink` processes store it; without it, events go
    /// straight to the database.
    #[arg(long, env = "CLICKSCRIPT_QUEUE", hide_env_values = true, global = true)]
    queue: Option<String>,
    /// The ingest log's stream: most bytes of events waiting for a sink; beyond, pages are
    /// answered 503 and retry (a stream made before keeps its own limits).
    #[arg(long, default_value_t = 1 << 30, global = true)]
    queue_max_bytes: i64,
    /// The ingest log's stream: how long (s) a uid is remembered, so that a copy re-sent
    /// within it is dropped by the stream.
    #[arg(long, default_value_t = 600, global = true)]
    queue_duplicate_window: u64,
    /// The ingest log: how long (s) a sink has to store what it took before it is delivered to
    /// another (a sink that died mid-batch is noticed after this).
    #[arg(long, default_value_t = 30, global = true)]
    queue_ack_wait: u64,
    /// The ingest log's stream: its copies in a NATS cluster (3 in production).
    #[arg(long, default_value_t = 1, global = true)]
    queue_replicas: usize,
    /// How log lines are written: `text`, or `json` (one object per line, for a log pipeline).
    #[arg(
        long,
        env = "CLICKSCRIPT_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    log_format: LogFormat,
    /// Commit durability: `full` fsyncs every commit, so an acknowledged event survives a power
    /// cut; `normal` may lose the last ones (see the README for the measured cost).
    #[arg(long, value_enum, default_value = "full", global = true)]
    sync: Durability,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    addr: IpAddr,
    /// Port to bind.
    #[arg(long, env = "PORT", default_value_t = 8080)]
    port: u16,
    /// Folder of the loader and demo pages.
    #[arg(long, default_value = "www")]
    www: PathBuf,
    /// Folder of the built wasm package, minified loader and fallback.
    #[arg(long, default_value = "pkg")]
    pkg: PathBuf,
    /// Base URL pages reach the collector at, named in the configuration served to pages.
    #[arg(long)]
    public_url: Option<String>,
    /// Without --public-url: a Host (host[:port]) the collector may be reached at, taken from
    /// the request when it is one of these (repeatable; default: 127.0.0.1 and localhost on the
    /// port). A request naming another Host is answered with the first, never with its own.
    #[arg(long = "allowed-host")]
    allowed_hosts: Vec<String>,
    /// Longest a request may take, in seconds (408 after).
    #[arg(long, default_value_t = 30)]
    request_timeout: u64,
    /// Longest a request's body may take to arrive, in seconds (408 after).
    #[arg(long, default_value_t = 10)]
    body_timeout: u64,
    /// Connections open at once; more wait in the kernel's backlog.
    #[arg(long, default_value_t = 4096)]
    max_connections: usize,
    /// Connections open at once from one client address (a --trusted-proxy is not counted);
    /// more are closed at once.
    #[arg(long, default_value_t = 256)]
    max_connections_per_client: usize,
    /// Seconds a connection may take to send a request's head, or stay idle between requests.
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
    /// Seconds a --trusted-proxy's connection may stay idle between requests; keep the load
    /// balancer's own idle timeout below it (60 s is common).
    #[arg(long, default_value_t = 75)]
    proxy_idle_timeout: u64,
    /// Ingest batches per second from one client address (bursts of 5x; 429 with Retry-After over it).
    #[arg(long, default_value_t = 50)]
    rate_per_client: u32,
    /// A load balancer or proxy in front of the collector (repeatable): for requests from it,
    /// the client is the address it put in X-Forwarded-For (rate limits are per client).
    #[arg(long = "trusted-proxy")]
    trusted_proxies: Vec<IpAddr>,
    /// Postback calls in flight at once.
    #[arg(long, default_value_t = 8, global = true)]
    postback_concurrency: usize,
    /// Longest a postback call may take, in seconds.
    #[arg(long, default_value_t = 10, global = true)]
    postback_timeout: u64,
    /// Attempts per postback call, the first included, before it is given up.
    #[arg(long, default_value_t = 10, global = true)]
    postback_attempts: u32,
    /// The wait after a postback's first failed attempt, in ms; it doubles after each (jittered,
    /// at most an hour, never less than the receiver's Retry-After).
    #[arg(long, default_value_t = 5000, global = true)]
    postback_backoff_ms: u64,
    /// Ingest batches per second for one campaign (bursts of 5x).
    #[arg(long, default_value_t = 5000)]
    rate_per_campaign: u32,
    /// Token for the admin API (off without one).
    #[arg(long, env = "CLICKSCRIPT_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Stores the events of the ingest log (--queue) in the database (--db), and makes their
    /// postback calls. Run any number: they share the stream's one durable consumer.
    Sink {
        /// Events taken from the stream and stored in one transaction, at most.
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
    /// Checks a configuration file and prints every error with its path.
    Check {
        /// The file.
        file: PathBuf,
    },
}

fn postback_settings(cli: &Cli) -> Settings {
    Settings {
        concurrency: cli.postback_concurrency.max(1),
        timeout: Duration::from_secs(cli.postback_timeout.max(1)),
        policy: Policy {
            attempts: cli.postback_attempts.max(1),
            base: Duration::from_millis(cli.postback_backoff_ms.max(1)),
            ..Policy::default()
        },
        ..Settings::default()
    }
}

fn queue_options(cli: &Cli) -> QueueOptions {
    QueueOptions {
        max_bytes: cli.queue_max_bytes,
        duplicate_window: Duration::from_secs(cli.queue_duplicate_window.max(1)),
        replicas: cli.queue_replicas,
        ack_wait: Duration::from_secs(cli.queue_ack_wait.max(1)),
        ..QueueOptions::default()
    }
}

/// `collector sink`: the ingest log into the store, until SIGTERM or Ctrl-C; what it took but
/// had not stored is left unacknowledged, and delivered again to another sink.
async fn run_sink(cli: &Cli, batch: usize) -> ExitCode {
    let Some(url) = &cli.queue else {
        collector::warn_line!("error: a sink needs --queue nats://… (the ingest log it empties)");
        return ExitCode::from(2);
    };
    let db_name = collector::store::display_name(&cli.db);
    let options = StoreOptions {
        durability: cli.sync,
        pool_size: cli.pool_size,
        db_ca: cli.db_ca.clone(),
        ..StoreOptions::default()
    };
    // The store may be down when a sink starts (the ingest log holds the events meanwhile):
    // the sink waits for it.
    let store = loop {
        match Store::connect(&cli.db, &options).await {
            Ok(s) => break s,
            Err(e) => {
                collector::warn_line!("sink: {db_name}: {e}; trying again in 2 s");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    // NATS may be down when a sink starts: the sink waits for it, as for the store.
    let queue = loop {
        match Queue::connect(url, queue_options(cli)).await {
            Ok(q) => break q,
            Err(e) => {
                collector::warn_line!("sink: {e}; trying again in 2 s");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    // The catalog names each campaign's postback secret: taken from the store, kept current.
    // A collector stores the catalog at its start: until one has, there is nothing to sink.
    let stored = loop {
        match store.stored_catalog().await {
            Ok(Some(s)) => match catalog::read(s.document) {
                Ok(c) => break (c, s.version),
                Err(errors) => {
                    report(&errors);
                    collector::warn_line!("error: the catalog stored in {db_name} is invalid");
                    return ExitCode::FAILURE;
                }
            },
            Ok(None) => collector::warn_line!(
                "sink: no catalog in {db_name} yet (a collector stores it at its start); waiting"
            ),
            Err(e) => collector::warn_line!("sink: {db_name}: {e}; trying again in 2 s"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let catalog = Arc::new(RwLock::new(stored.0));
    let version = Arc::new(AtomicI64::new(stored.1));
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(collector::watch_catalog(
        store.clone(),
        catalog.clone(),
        version,
        Duration::from_millis(cli.catalog_refresh_ms.max(10)),
        stopped.clone(),
    ));
    let worker = Worker::start(store.clone(), catalog, postback_settings(cli));
    let counts = Arc::new(std::sync::Mutex::new(SinkCounts::default()));
    collector::log_line!(
        "sink: from {} into {db_name}",
        collector::store::display_url(url)
    );
    let mut run = tokio::spawn(collector::queue::sink(
        queue,
        store,
        worker.wake.clone(),
        batch,
        stopped,
        counts.clone(),
    ));
    // Until a stop, or the sink's own end (which is then this process's: it says why).
    let ended = tokio::select! {
        ended = &mut run => Some(ended),
        () = stop_signal() => None,
    };
    let _ = stopping.send(true);
    let ended = match ended {
        Some(ended) => ended,
        None => run.await,
    };
    worker.stop().await;
    let c = *counts.lock().unwrap_or_else(|e| e.into_inner());
    collector::log_line!(
        "sink: stopped; stored {}, duplicates {}, unreadable {}",
        c.stored,
        c.duplicates,
        c.unreadable
    );
    match ended {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            collector::warn_line!("error: {e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            collector::warn_line!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints each error (an indented line goes on the error before it).
fn report(errors: &[String]) {
    for e in errors {
        match e.starts_with(' ') {
            true => collector::warn_line!("{e}"),
            false => collector::warn_line!("error: {e}"),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    collector::logging::set_format(cli.log_format);
    if let Some(Command::Check { file }) = &cli.command {
        return match catalog::load(file) {
            Ok(c) => {
                collector::log_line!(
                    "{}: valid ({} campaigns)",
                    file.display(),
                    c.campaigns.len()
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                report(&errors);
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Command::Sink { batch }) = &cli.command {
        return run_sink(&cli, *batch).await;
    }
    let queue = match &cli.queue {
        Some(url) => match Queue::connect(url, queue_options(&cli)).await {
            Ok(q) => Some(q),
            Err(e) => {
                collector::warn_line!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let options = StoreOptions {
        durability: cli.sync,
        pool_size: cli.pool_size,
        db_ca: cli.db_ca.clone(),
        ..StoreOptions::default()
    };
    let db_name = collector::store::display_name(&cli.db);
    let store = match Store::connect(&cli.db, &options).await {
        Ok(s) => s,
        Err(e) => {
            collector::warn_line!("error: {db_name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The catalog: the stored one, the file's, or the demo's (see catalog_source), stored when
    // it differs from the stored one.
    let mut attempt = 0;
    let (catalog, catalog_version) = loop {
        attempt += 1;
        let (stored, stored_version) = match store.stored_catalog().await {
            Ok(Some(s)) => (Some(s.document), s.version),
            Ok(None) => (None, 0),
            Err(e) => {
                collector::warn_line!("error: {db_name}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let stored_document = stored.clone();
        let stored = stored.map(catalog::read);
        let catalog = match (&cli.config, stored) {
            (Some(file), stored) => {
                let file_name = file.display().to_string();
                match catalog_source::choose(
                    catalog::load(file),
                    stored,
                    cli.catalog,
                    &file_name,
                    &db_name,
                ) {
                    Ok((catalog, _, note)) => {
                        if let Some(note) = note {
                            collector::warn_line!("catalog: {note}");
                        }
                        catalog
                    }
                    Err(refused) => {
                        report(&refused.0);
                        return ExitCode::FAILURE;
                    }
                }
            }
            (None, Some(Ok(catalog))) => catalog,
            (None, Some(Err(mut errors))) => {
                errors.push(format!(
                    "refusing to start: the catalog stored in {db_name} is invalid; --config FILE --catalog file replaces it"
                ));
                report(&errors);
                return ExitCode::FAILURE;
            }
            (None, None) => match catalog::load(std::path::Path::new(DEMO_CONFIG)) {
                Ok(catalog) => catalog,
                Err(errors) => {
                    report(&errors);
                    collector::warn_line!("refusing to start: {DEMO_CONFIG} is invalid");
                    return ExitCode::FAILURE;
                }
            },
        };
        // Stored only when it differs: collectors starting on one database with the same file
        // leave the catalog's version (and so every other collector's) as it is.
        let unchanged = stored_document
            .is_some_and(|d| serde_json::to_value(&catalog.file).is_ok_and(|f| f == d));
        let catalog_version = match unchanged {
            true => stored_version,
            // Stored only over the version read above: a catalog another collector stored while
            // this one started is never silently replaced.
            false => match store.save_catalog(&catalog, Some(stored_version)).await {
                Ok(v) => v,
                // Collectors starting at once on a new database: the first stores the
                // catalog; the others choose again from what it stored.
                Err(collector::store::StoreError::Conflict(_)) if attempt < 5 => continue,
                Err(collector::store::StoreError::Conflict(_)) => {
                    collector::warn_line!(
                        "error: the catalog in {db_name} kept changing while this collector started; start again"
                    );
                    return ExitCode::FAILURE;
                }
                Err(e) => {
                    collector::warn_line!("error: {db_name}: {e}");
                    return ExitCode::FAILURE;
                }
            },
        };
        break (catalog, catalog_version);
    };
    let loader_path = cli.pkg.join("loader.js");
    let loader = match std::fs::read_to_string(&loader_path) {
        Ok(l) if l.contains(CONFIG_PLACEHOLDER) => l,
        Ok(_) => {
            collector::warn_line!(
                "error: {} lacks {CONFIG_PLACEHOLDER}",
                loader_path.display()
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            collector::warn_line!(
                "error: cannot read {} (build it with tools/build-wasm.sh): {e}",
                loader_path.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let limits = Limits {
        request_timeout: Duration::from_secs(cli.request_timeout.max(1)),
        body_timeout: Duration::from_secs(cli.body_timeout.max(1)),
        connections: cli.max_connections,
        connections_per_client: cli.max_connections_per_client,
        header_timeout: Duration::from_secs(cli.header_timeout.max(1)),
        proxy_idle_timeout: Duration::from_secs(cli.proxy_idle_timeout.max(1)),
        per_client: cli.rate_per_client,
        per_campaign: cli.rate_per_campaign,
    };
    let allowed_hosts = if cli.allowed_hosts.is_empty() {
        vec![
            format!("{}:{}", cli.addr, cli.port),
            format!("localhost:{}", cli.port),
        ]
    } else {
        cli.allowed_hosts.clone()
    };
    if cli.public_url.is_none() && cli.allowed_hosts.is_empty() && !cli.addr.is_loopback() {
        collector::warn_line!(
            "warning: bound to {} without --public-url or --allowed-host: pages are served this collector as http://{}",
            cli.addr, allowed_hosts[0]
        );
    }
    let rates = RateLimits::new(&limits);
    let forget = rates.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            forget.forget_idle();
        }
    });
    let catalog = Arc::new(RwLock::new(catalog));
    let worker = Worker::start(store.clone(), catalog.clone(), postback_settings(&cli));
    let app = App {
        catalog,
        catalog_version: Arc::new(AtomicI64::new(catalog_version)),
        postbacks: worker.wake.clone(),
        store,
        metrics: Default::default(),
        queue,
        loader: Arc::new(loader),
        www: cli.www,
        packages: collector::Packages::read(&cli.pkg),
        pkg: cli.pkg,
        public_url: cli.public_url,
        allowed_hosts,
        rates,
        trusted_proxies: cli.trusted_proxies.clone(),
        admin_token: cli.admin_token.filter(|t| !t.is_empty()),
        paused: Arc::new(AtomicU32::new(0)),
    };
    let addr = SocketAddr::new(cli.addr, cli.port);
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            collector::warn_line!("error: cannot bind {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bound = listener.local_addr().unwrap_or(addr);
    collector::log_line!("collector listening on http://{bound}");
    collector::log_line!("  demo landing page: http://{bound}/");
    collector::log_line!(
        "  dashboard:         http://{bound}/dashboard/sign-in (the admin token or an API key)"
    );
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(collector::watch_catalog(
        app.store.clone(),
        app.catalog.clone(),
        app.catalog_version.clone(),
        Duration::from_millis(cli.catalog_refresh_ms.max(10)),
        stopped,
    ));
    let trusted = cli.trusted_proxies.clone();
    serve(
        listener,
        harden(router(app), &limits),
        &limits,
        &trusted,
        stop_signal(),
    )
    .await;
    let _ = stopping.send(true);
    // Calls in flight finish; the rest stay pending for the next start.
    worker.stop().await;
    collector::log_line!("stopped");
    ExitCode::SUCCESS
}
