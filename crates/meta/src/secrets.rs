//! Secrets: random keys, SHA-256 of tokens, argon2id password hashes.

use crate::{MAX_PASSWORD_BYTES, MIN_PASSWORD_BYTES, MetaError};
use sha2::{Digest, Sha256};
use std::io::Read;

pub(crate) fn random_hex(bytes: usize) -> Result<String, MetaError> {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

pub(crate) fn check_password(password: &str) -> Result<(), MetaError> {
    if (MIN_PASSWORD_BYTES..=MAX_PASSWORD_BYTES).contains(&password.len()) {
        Ok(())
    } else {
        Err(MetaError::Invalid(format!(
            "a password needs {MIN_PASSWORD_BYTES} to {MAX_PASSWORD_BYTES} bytes"
        )))
    }
}

thread_local! {
    /// argon2's 19 MiB of working memory, allocated once per thread and reused. Allocating it
    /// per hash (64-byte aligned, so glibc splits and fragments it) left up to three copies in
    /// each allocator arena the hashing threads touched: ~250 MiB after a few dozen sign-ins.
    /// The API hashes on a few long-lived threads, so sign-in memory stays threads × 19 MiB.
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs argon2 in this thread's reusable working memory.
fn argon2_into(
    argon: &argon2::Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    ARGON2_MEMORY.with_borrow_mut(|memory| {
        let blocks = argon.params().block_count();
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::default());
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
    })
}

/// An argon2id hash of `password` as a PHC string, with argon2's default (OWASP) parameters.
pub(crate) fn hash_password(password: &str) -> Result<String, MetaError> {
    use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
    use argon2::{Algorithm, Argon2, Params, Version};
    let failed = |e: String| MetaError::Invalid(format!("cannot hash password: {e}"));
    let mut salt = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut salt)?;
    let params = Params::default();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(&argon, password.as_bytes(), &salt, &mut out).map_err(|e| failed(e.to_string()))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(e.to_string()))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(e.to_string()))?),
        hash: Some(Output::new(&out).map_err(|e| failed(e.to_string()))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches a stored PHC string (argon2 of any variant, version and
/// parameters it names), compared in constant time.
pub(crate) fn password_matches(password: &str, stored: &str) -> bool {
    use argon2::password_hash::phc::{Output, PasswordHash};
    use argon2::{Algorithm, Argon2, Params, Version};
    let Ok(phc) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&phc.salt, &phc.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(phc.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = phc.version.map(Version::try_from).transpose() else {
        return false;
    };
    let Ok(params) = Params::try_from(&phc) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version.unwrap_or_default(), params);
    let mut out = vec![0u8; expected.len()];
    argon2_into(&argon, password.as_bytes(), salt.as_ref(), &mut out).is_ok()
        // Output's equality is constant-time.
        && Output::new(&out).is_ok_and(|computed| &computed == expected)
}

/// Verifies against a real hash even for unknown emails, so both cases take the same time.
pub(crate) fn password_matches_or_dummy(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| hash_password("not a real password").unwrap_or_default());
    password_matches(password, stored.unwrap_or(DUMMY.as_str())) && stored.is_some()
}

pub(crate) fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
