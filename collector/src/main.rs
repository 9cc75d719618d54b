//! `collector`: runs the collector, or checks a configuration file (`collector check FILE`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, RwLock};

use clap::{Parser, Subcommand};
use collector::{catalog, router, store::Store, App, CONFIG_PLACEHOLDER};

/// The demo's configuration, used when neither `--config` nor the database has one.
const DEMO_CONFIG: &str = "collector/demo.json";

#[derive(Parser)]
#[command(version, about = "The Clickscript collector")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Configuration file (organizations, events, campaigns). It replaces the catalog stored in
    /// the database; without it the collector starts from the stored catalog (with the admin
    /// API's changes), or from collector/demo.json when the database has none.
    #[arg(long)]
    config: Option<PathBuf>,
    /// SQLite database file.
    #[arg(long, default_value = "clickscript.db")]
    db: PathBuf,
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
    /// Base URL pages reach the collector at (default: from each request's Host).
    #[arg(long)]
    public_url: Option<String>,
    /// Token for the admin API (off without one).
    #[arg(long, env = "CLICKSCRIPT_ADMIN_TOKEN")]
    admin_token: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Checks a configuration file and prints every error with its path.
    Check {
        /// The file.
        file: PathBuf,
    },
}

fn report(errors: &[String]) {
    for e in errors {
        eprintln!("error: {e}");
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Check { file }) = &cli.command {
        return match catalog::load(file) {
            Ok(c) => {
                println!(
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
    let store = match Store::open(&cli.db) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {}: {e}", cli.db.display());
            return ExitCode::FAILURE;
        }
    };
    let stored = match (&cli.config, store.load_document()) {
        (None, Ok(Some(document))) => Some(document),
        (_, Err(e)) => {
            eprintln!("error: {}: {e}", cli.db.display());
            return ExitCode::FAILURE;
        }
        _ => None,
    };
    let source = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEMO_CONFIG));
    let label = match stored {
        Some(_) => format!("the catalog stored in {}", cli.db.display()),
        None => source.display().to_string(),
    };
    let built = match stored {
        Some(document) => catalog::Catalog::build(document),
        None => catalog::load(&source),
    };
    let catalog = match built {
        Ok(c) => c,
        Err(errors) => {
            report(&errors);
            eprintln!("refusing to start: {label} is invalid");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = store.save_catalog(&catalog) {
        eprintln!("error: {}: {e}", cli.db.display());
        return ExitCode::FAILURE;
    }
    let loader_path = cli.pkg.join("loader.js");
    let loader = match std::fs::read_to_string(&loader_path) {
        Ok(l) if l.contains(CONFIG_PLACEHOLDER) => l,
        Ok(_) => {
            eprintln!(
                "error: {} lacks {CONFIG_PLACEHOLDER}",
                loader_path.display()
            );
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!(
                "error: cannot read {} (build it with tools/build-wasm.sh): {e}",
                loader_path.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let app = App {
        catalog: Arc::new(RwLock::new(catalog)),
        store,
        loader: Arc::new(loader),
        www: cli.www,
        packages: collector::Packages::read(&cli.pkg),
        pkg: cli.pkg,
        public_url: cli.public_url,
        admin_token: cli.admin_token.filter(|t| !t.is_empty()),
        paused: Arc::new(AtomicU32::new(0)),
    };
    let addr = SocketAddr::new(cli.addr, cli.port);
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot bind {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bound = listener.local_addr().unwrap_or(addr);
    println!("collector listening on http://{bound}");
    println!("  demo landing page: http://{bound}/");
    println!(
        "  dashboard:         http://{bound}/dashboard/sign-in (the admin token or an API key)"
    );
    let serve = axum::serve(listener, router(app)).with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    if let Err(e) = serve.await {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
