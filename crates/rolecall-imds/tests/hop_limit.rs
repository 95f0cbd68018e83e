//! The hop limit becomes the IP TTL of an instance's IMDS connection (source-IP mode): what
//! `rolecall_imds::serve` applies to every accepted connection, checked on real sockets.

#![allow(clippy::unwrap_used)]

use rolecall_core::ec2::{Ec2, Ec2Config, RunInstances};
use rolecall_core::iam::Iam;
use rolecall_core::{DynClock, DynStore, SystemClock};
use rolecall_crypto::{KeyRing, MasterKey};
use rolecall_imds::{CredentialPolicy, Directory, apply_hop_limit};
use rolecall_store_sqlite::SqliteStore;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Connects from `source` and returns the server's side of the connection with the peer address.
async fn accepted_from(listener: &TcpListener, source: &str) -> (TcpStream, SocketAddr, TcpStream) {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let client = sock.connect(listener.local_addr().unwrap()).await.unwrap();
    let (server_side, peer) = listener.accept().await.unwrap();
    (server_side, peer, client)
}

#[tokio::test]
async fn an_instances_connection_carries_its_hop_limit_as_ttl() {
    let store: DynStore = Arc::new(SqliteStore::in_memory().await.unwrap());
    let iam = Iam::new(store.clone(), "123456789012");
    let ec2 = Ec2::new(
        store,
        iam.clone(),
        Ec2Config::lenient("us-east-1", "127.78.0.0/16".parse().unwrap()),
    );
    let keyring = KeyRing::new(vec![
        MasterKey::new(1, &MasterKey::generate_bytes()).unwrap(),
    ])
    .unwrap();
    let clock: DynClock = Arc::new(SystemClock);
    let dir = Directory::new(
        iam,
        "us-east-1".into(),
        keyring,
        clock,
        CredentialPolicy::default(),
    );
    let mut input = RunInstances {
        image_id: "ami-11aa22bb".into(),
        min_count: 1,
        max_count: 1,
        private_ip: Some("127.78.0.10".into()),
        ..Default::default()
    };
    input.metadata_options.http_put_response_hop_limit = 3;
    ec2.run_instances(input).await.unwrap();
    dir.reload().await.unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let default_ttl = {
        let (s, _, _c) = accepted_from(&listener, "127.0.0.1").await;
        s.ttl().unwrap()
    };
    assert_ne!(default_ttl, 3);

    // The instance's connection gets TTL 3.
    let (s, peer, _c) = accepted_from(&listener, "127.78.0.10").await;
    assert_eq!(apply_hop_limit(&s, &dir, peer).unwrap(), Some(3));
    assert_eq!(s.ttl().unwrap(), 3);

    // A caller that is no instance keeps the system's TTL.
    let (s, peer, _c) = accepted_from(&listener, "127.78.0.11").await;
    assert_eq!(apply_hop_limit(&s, &dir, peer).unwrap(), None);
    assert_eq!(s.ttl().unwrap(), default_ttl);

    // A changed hop limit applies to the next connection.
    ec2.modify_instance_metadata_options(
        &dir.by_ip("127.78.0.10".parse().unwrap()).unwrap().id(),
        |m| m.http_put_response_hop_limit = 2,
    )
    .await
    .unwrap();
    dir.reload().await.unwrap();
    let (s, peer, _c) = accepted_from(&listener, "127.78.0.10").await;
    assert_eq!(apply_hop_limit(&s, &dir, peer).unwrap(), Some(2));
    assert_eq!(s.ttl().unwrap(), 2);
}
