//! Transaction requests (`eth_sendTransaction`, `eth_signTransaction`): filling their missing
//! fields as geth does, and signing with a dev account's key or, from an impersonated account,
//! with a placeholder signature.

use super::{Backend, SUGGESTED_PRIORITY_FEE, dev};
use crate::error::{HostError, HostResult};
use alloy_consensus::{
    SignableTransaction, TxEip1559, TxEip2930, TxEip7702, TxEnvelope, TxLegacy, TypedTransaction,
    transaction::SignerRecoverable,
};
use alloy_eips::BlockId;
use alloy_primitives::{Address, B256, TxKind};
use alloy_rpc_types_eth::TransactionRequest;
use alloy_signer::SignerSync;

impl Backend {
    /// `eth_sendTransaction`: fills a transaction request and signs it with a dev account's
    /// key — or, from an impersonated account, gives it a placeholder signature — then pools
    /// it.
    pub fn send_transaction(&self, request: TransactionRequest) -> HostResult<B256> {
        let from =
            request.from.ok_or_else(|| HostError::InvalidRequest("missing \"from\"".into()))?;
        if self.signer(&from).is_none() && self.is_impersonated(&from) {
            let typed = self.fill_request(request)?;
            let tx = TxEnvelope::from(typed.into_signed(dev::placeholder_signature(from)));
            return self.submit_from(tx, from, true);
        }
        let tx = self.sign_request(request)?;
        self.submit(tx)
    }

    /// The key of dev account `address`.
    fn signer(&self, address: &Address) -> Option<&alloy_signer_local::PrivateKeySigner> {
        self.accounts.iter().find(|a| a.address == *address).map(|a| &a.signer)
    }

    /// Fills missing fields of a request (nonce, gas, fees, chain id) and signs it with the
    /// key of its `from` dev account.
    pub fn sign_request(&self, request: TransactionRequest) -> HostResult<TxEnvelope> {
        let from =
            request.from.ok_or_else(|| HostError::InvalidRequest("missing \"from\"".into()))?;
        let signer = self.signer(&from).ok_or(HostError::UnknownAccount(from))?.clone();
        let typed = self.fill_request(request)?;
        let signature = signer
            .sign_hash_sync(&typed.signature_hash())
            .map_err(|e| HostError::Internal(format!("signing: {e}")))?;
        let envelope = TxEnvelope::from(typed.into_signed(signature));
        debug_assert_eq!(envelope.recover_signer().ok(), Some(from));
        Ok(envelope)
    }

    /// The unsigned transaction a request describes, with its missing fields (nonce, gas,
    /// fees, chain id) filled as `eth_sendTransaction` fills them.
    pub fn fill_request(&self, mut request: TransactionRequest) -> HostResult<TypedTransaction> {
        let from =
            request.from.ok_or_else(|| HostError::InvalidRequest("missing \"from\"".into()))?;
        let nonce = request.nonce.unwrap_or_else(|| self.pending_nonce(&from));
        request.nonce = Some(nonce);
        let gas = match request.gas {
            Some(gas) => gas,
            None => self.estimate_gas(&request, BlockId::pending())?,
        };
        let chain_id = self.chain_id();
        let to = request.to.unwrap_or(TxKind::Create);
        let value = request.value.unwrap_or_default();
        let input = request.input.input().cloned().unwrap_or_default();
        let access_list = request.access_list.clone().unwrap_or_default();
        let typed: TypedTransaction = if let Some(gas_price) = request.gas_price {
            if request.access_list.is_some() {
                let tx = TxEip2930 {
                    chain_id,
                    nonce,
                    gas_price,
                    gas_limit: gas,
                    to,
                    value,
                    input,
                    access_list,
                };
                tx.into()
            } else {
                let tx = TxLegacy {
                    chain_id: Some(chain_id),
                    nonce,
                    gas_price,
                    gas_limit: gas,
                    to,
                    value,
                    input,
                };
                tx.into()
            }
        } else {
            let tip = request.max_priority_fee_per_gas.unwrap_or(SUGGESTED_PRIORITY_FEE);
            // anvil's default: the next block's base fee plus the tip.
            let max_fee =
                request.max_fee_per_gas.unwrap_or_else(|| self.next_base_fee() as u128 + tip);
            match request.authorization_list {
                Some(authorization_list) if !authorization_list.is_empty() => {
                    let TxKind::Call(to) = to else {
                        return Err(HostError::InvalidRequest(
                            "an EIP-7702 transaction cannot create a contract".into(),
                        ));
                    };
                    let tx = TxEip7702 {
                        chain_id,
                        nonce,
                        gas_limit: gas,
                        max_fee_per_gas: max_fee,
                        max_priority_fee_per_gas: tip,
                        to,
                        value,
                        access_list,
                        authorization_list,
                        input,
                    };
                    tx.into()
                }
                _ => {
                    let tx = TxEip1559 {
                        chain_id,
                        nonce,
                        gas_limit: gas,
                        max_fee_per_gas: max_fee,
                        max_priority_fee_per_gas: tip,
                        to,
                        value,
                        access_list,
                        input,
                    };
                    tx.into()
                }
            }
        };
        Ok(typed)
    }
}
