//! An unmodified aws-sdk-rust program: asks the SDK's IMDS credentials provider, configured from
//! the environment only (as on an instance, or under `rolecall exec`), for credentials and prints
//! them as JSON for the end-to-end tests (tests/e2e/test_sdks.py), which use them to call STS.

use aws_config::imds::credentials::ImdsCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::provider::ProvideCredentials;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let http = aws_smithy_http_client::Builder::new().build_http();
    // ProviderConfig::default() reads AWS_EC2_METADATA_SERVICE_ENDPOINT from the environment.
    let config = ProviderConfig::default().with_http_client(http);
    let provider = ImdsCredentialsProvider::builder()
        .configure(&config)
        .build();
    let creds = provider.provide_credentials().await?;
    println!(
        "{{\"AccessKeyId\":\"{}\",\"SecretAccessKey\":\"{}\",\"Token\":\"{}\"}}",
        creds.access_key_id(),
        creds.secret_access_key(),
        creds.session_token().unwrap_or_default()
    );
    Ok(())
}
