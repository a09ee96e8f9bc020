//! Members' signatures: low-s recoverable secp256k1 (EIP-2), `r ‖ s ‖ v` with `v` 27 or 28.

use alloy_primitives::{Address, B256, U256};
use k256::ecdsa::SigningKey;

/// Half the order of secp256k1's group: a signature's `s` must not exceed it (low-s, EIP-2).
const HALF_ORDER: U256 = alloy_primitives::uint!(
    0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0_U256
);

/// The order of secp256k1's group (tests flip `s` to `ORDER - s`).
#[cfg(test)]
pub(crate) const ORDER: U256 = alloy_primitives::uint!(
    0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141_U256
);

/// Signs `digest` with a low-s recoverable signature: `r ‖ s ‖ v` with `v` 27 or 28
/// (libsecp256k1, which produces low-s signatures).
pub fn sign(key: &SigningKey, digest: &B256) -> Result<[u8; 65], String> {
    let secret =
        secp256k1::SecretKey::from_byte_array(key.to_bytes().into()).map_err(|e| e.to_string())?;
    let message = secp256k1::Message::from_digest(digest.0);
    let signature = secp256k1::SECP256K1.sign_ecdsa_recoverable(message, &secret);
    let (recovery, compact) = signature.serialize_compact();
    let mut out = [0u8; 65];
    out[..64].copy_from_slice(&compact);
    out[64] = 27 + i32::from(recovery) as u8;
    Ok(out)
}

/// The address that signed `digest`, refusing high-s and malformed signatures.
pub fn recover(digest: &B256, signature: &[u8]) -> Result<Address, String> {
    let bytes: &[u8; 65] = signature
        .try_into()
        .map_err(|_| format!("a signature has {} bytes, not 65", signature.len()))?;
    if U256::from_be_slice(&bytes[32..64]) > HALF_ORDER {
        return Err("high-s signature".into());
    }
    let v = match bytes[64] {
        27 | 28 => bytes[64] - 27,
        0 | 1 => bytes[64],
        v => return Err(format!("recovery id {v}")),
    };
    let signature = alloy_primitives::Signature::from_bytes_and_parity(&bytes[..64], v == 1);
    signature.recover_address_from_prehash(digest).map_err(|e| e.to_string())
}

/// The address of a signing key.
pub fn address_of(key: &SigningKey) -> Address {
    Address::from_public_key(key.verifying_key())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::keccak256;

    fn key(i: u8) -> SigningKey {
        SigningKey::from_slice(&[i; 32]).unwrap()
    }

    /// Signatures are low-s and recover to the signer.
    #[test]
    fn sign_recover_low_s() {
        for i in 1..50u8 {
            let d = keccak256([i]);
            let sig = sign(&key(i), &d).unwrap();
            assert_eq!(recover(&d, &sig).unwrap(), address_of(&key(i)));
            let s = U256::from_be_slice(&sig[32..64]);
            assert!(s <= ORDER >> 1, "low-s");
            assert_eq!(ORDER >> 1, HALF_ORDER);
        }
    }
}
