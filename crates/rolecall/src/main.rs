//! `rolecall`: self-hosted IAM roles for EC2 instances.

mod datadir;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use rolecall_api::{Api, ApiConfig, AuthMode, Credentials, KeyStore, Principal};
use rolecall_core::ec2::{Ec2, Ec2Config};
use rolecall_core::iam::Iam;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// The API's default listener.
const DEFAULT_LISTEN: &str = "127.0.0.1:8690";

#[derive(Parser)]
#[command(
    name = "rolecall",
    version,
    about = "Self-hosted, AWS-compatible IAM roles for EC2 instances"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Auth {
    On,
    Off,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server (IAM, STS, EC2).
    Serve {
        /// State directory [default: $XDG_DATA_HOME/rolecall or ~/.local/share/rolecall].
        #[arg(long, env = "ROLECALL_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Address of the API listener.
        #[arg(long, default_value = DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// The region this server presents.
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// Verify SigV4 signatures (on) or accept any credentials as the account root (off).
        #[arg(long, value_enum, default_value = "on")]
        auth: Auth,
        /// Range that instances' private IPs are allocated from.
        #[arg(long, default_value = "10.0.0.0/16")]
        instance_cidr: ipnet::Ipv4Net,
    },
    /// Print `export` lines that point AWS CLIs and SDKs at this server as the account root.
    Env {
        #[arg(long, env = "ROLECALL_DATA_DIR")]
        data_dir: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            data_dir,
            listen,
            region,
            auth,
            instance_cidr,
        } => {
            serve(
                data_dir.unwrap_or_else(datadir::default_dir),
                listen,
                region,
                auth,
                instance_cidr,
            )
            .await
        }
        Command::Env { data_dir } => env(data_dir.unwrap_or_else(datadir::default_dir)).await,
    }
}

async fn serve(
    dir: PathBuf,
    listen: SocketAddr,
    region: String,
    auth: Auth,
    instance_cidr: ipnet::Ipv4Net,
) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let d = datadir::open(&dir, true).await?;
    let store: rolecall_core::DynStore = Arc::new(d.store);
    let iam = Iam::new(store.clone(), d.account_id.clone());
    let ec2 = Ec2::new(
        store,
        iam.clone(),
        Ec2Config {
            region: region.clone(),
            instance_cidr,
        },
    );
    let keys = KeyStore::default();
    keys.insert(Credentials {
        access_key_id: d.root_access_key_id.clone(),
        secret_access_key: d.root_secret_access_key,
        principal: Principal::root(&d.account_id),
    });
    let auth = if auth == Auth::Off {
        tracing::warn!(
            "AUTHENTICATION IS OFF: every request is accepted as the account root, whatever its credentials. Development use only."
        );
        AuthMode::Off
    } else {
        AuthMode::On
    };
    let api = Arc::new(Api {
        iam,
        ec2,
        config: ApiConfig { region, auth },
        keys,
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    std::fs::write(
        dir.join(datadir::ENDPOINT_FILE),
        format!("http://{addr}\n{}\n", api.config.region),
    )?;
    tracing::info!(%addr, account = %d.account_id, data_dir = %dir.display(), "rolecall API listening");
    tokio::select! {
        r = rolecall_api::serve(listener, api) => r?,
        _ = tokio::signal::ctrl_c() => tracing::info!("shutting down"),
    }
    Ok(())
}

async fn env(dir: PathBuf) -> Result<()> {
    let d = datadir::open(&dir, false).await?;
    let written = std::fs::read_to_string(dir.join(datadir::ENDPOINT_FILE)).unwrap_or_default();
    let mut lines = written.lines();
    let endpoint = lines
        .next()
        .map(str::to_string)
        .unwrap_or_else(|| format!("http://{DEFAULT_LISTEN}"));
    let region = lines.next().unwrap_or("us-east-1");
    // Leftover session credentials or profiles would override the root key.
    println!("unset AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE");
    println!("export AWS_ENDPOINT_URL={endpoint}");
    println!("export AWS_ACCESS_KEY_ID={}", d.root_access_key_id);
    println!("export AWS_SECRET_ACCESS_KEY={}", d.root_secret_access_key);
    println!("export AWS_DEFAULT_REGION={region}");
    println!("export AWS_REGION={region}");
    Ok(())
}
