use dockpki::{KeyType, PrivateKey};
#[test]
fn timing() {
    for kt in KeyType::ALL {
        let t = std::time::Instant::now();
        let _k = PrivateKey::generate(kt).unwrap();
        eprintln!("{kt}: {:?}", t.elapsed());
    }
    let t = std::time::Instant::now();
    let _k = PrivateKey::generate_many(&[KeyType::Rsa4096, KeyType::Rsa4096]).unwrap();
    eprintln!("2x4096 parallel: {:?}", t.elapsed());
}
