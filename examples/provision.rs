//! Embedding dockpki in a provisioning tool: make a CA, a server certificate and a client
//! certificate, and check them the way dockerd and the docker CLI will.
//!
//! `cargo run -p dockpki --example provision -- docker.example.com 192.0.2.10`
//!
//! Prints what the certificates say and the PEM certificates (never the keys). The library stops
//! at values in memory: writing the files, with the right modes and owners, is the job of the
//! provisioning crate `dockpki-provision` (see docs/embedding.md). The rustls side, a server and
//! a client talking mutual TLS with these certificates, is examples/mtls_loopback.rs.

use dockpki::{
    verify_leaf, CaOptions, CertificateAuthority, ClientRequest, KeyType, OffsetDateTime,
    PrivateKey, SanList, ServerRequest, Usage,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let names: Vec<String> = std::env::args().skip(1).collect();
    let names = if names.is_empty() {
        vec!["localhost".to_string(), "127.0.0.1".to_string()]
    } else {
        names
    };
    let now = OffsetDateTime::now_utc();

    let ca = CertificateAuthority::create(&CaOptions::new(now)?, now)?;
    let mut keys = PrivateKey::generate_many(&[KeyType::EcdsaP256, KeyType::EcdsaP256])?;
    let (client_key, server_key) = (keys.remove(1), keys.remove(0));
    let sans = SanList::parse(&names)?;
    let server = ca.issue_server(
        &ServerRequest {
            sans: sans.clone(),
            common_name: None,
            lifetime: "1y".parse()?,
        },
        server_key,
        now,
    )?;
    let client = ca.issue_client(
        &ClientRequest {
            common_name: "provisioner".parse()?,
            lifetime: "90d".parse()?,
        },
        client_key,
        now,
    )?;

    let bundle = [ca.cert_der().clone()];
    for host in sans.as_slice() {
        verify_leaf(&server.cert, &bundle, Usage::Server, Some(host), now)?;
    }
    verify_leaf(&client.cert, &bundle, Usage::Client, None, now)?;

    println!(
        "{}",
        serde_json::to_string_pretty(&[ca.info(), &server.info, &client.info])?
    );
    print!("{}{}", server.cert_pem, client.cert_pem);
    Ok(())
}
