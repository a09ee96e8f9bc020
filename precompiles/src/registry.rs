//! `0x…0D00`: the model registry.
//!
//! `register(bytes32 model, string name)` records a model the oracle (the node's model
//! store) holds: its analysis (I/O signature, MACs), name, owner and block, as the ABI
//! encoding of the Solidity `ModelInfo` struct. The record lives in this address's storage
//! with Solidity's layout for `mapping(bytes32 => bytes)` at slot 0 — the length word at
//! `keccak256(model ‖ 0)` holds `2·len + 1`, the bytes follow from `keccak256(that slot)` —
//! so a replaying node reads it from state and needs no model bytes.
//!
//! `registerWithRule(bytes32, string, Rule)` also records how the executor committee settles
//! the model's results (`Rule` kind 0, and plain `register`: the committee's default). The
//! analysis comes from the oracle: the node's store in a call, the committee (which settles
//! it like any job) when building a block, the block's record of it when replaying.
//!
//! A model trained on chain (by `train`) gets a **lineage record** instead of a copy of its
//! parent's: six words — a tag, the *root* (the ancestor with a full record), the parent, the
//! file size, the trainer and the block — from which its registration is the root's with those
//! fields replaced (a trained model keeps its ancestors' name, I/O, cost and rule). A full
//! record starts with the ABI offset `0x20`, a lineage record with [`LINEAGE_TAG`]. Reading a
//! lineage model reads both records and is charged for both.
//!
//! **The warm set.** Running a model first loads it: its file is read and checked, and ONNX
//! Runtime builds a session, which for a large model takes far longer than a call. Like
//! EIP-2929's cold accounts, a call on a model outside the chain's warm set pays
//! [`crate::gas::GasSchedule::cold_model`] for its size, and the model joins the set. Unlike
//! EIP-2929's, the set is kept across transactions, in this address's storage (Solidity's
//! layout: `uint256 loads` at slot 1, `mapping(bytes32 => uint256) loadedAt` at slot 2): a
//! cold load advances the clock `loads` and records it as the model's `loadedAt`, and a model
//! is warm while fewer than `warm_models` models were loaded cold after it. That is a
//! first-in-first-out set of `warm_models` models, so an executor whose session cache keeps
//! the `warm_models` most recently used models holds every warm model: cycling more models
//! than executors cache pays for every load it causes. The set is bookkeeping of this address
//! that no contract reads; like the EIP-2929 sets it is updated under STATICCALL too (a view
//! function that infers warms its model), and it is rolled back with the call that loaded the
//! model. Gas depends on it, and on nothing else outside state and calldata.
//!
//! Records are immutable: registering a model twice reverts `AlreadyRegistered`. Gas:
//! `register_base + register_word × words written`; under STATICCALL, or through
//! DELEGATECALL/CALLCODE, `register` reverts.

use crate::{
    Dnn, JobKind, Rule,
    abi::IModelRegistry,
    error::DnnError,
    meter::{Meter, Stop},
    model::Registration,
    provider::refuse_static_and_delegate,
};
use alloy_primitives::{Address, B256, Log, U256, address, keccak256};
use alloy_sol_types::{SolEvent, SolInterface, SolValue};
use revm::{
    context_interface::{Block, ContextTr, JournalTr},
    interpreter::CallInputs,
};
use std::sync::Arc;

/// Address of the registry.
pub const ADDRESS: Address = address!("0x0000000000000000000000000000000000000d00");

/// Longest accepted model name, in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// First word of a lineage record: `keccak256("ANH-LINEAGE-v1")`.
pub const LINEAGE_TAG: B256 =
    alloy_primitives::b256!("0x99e131b177af385577eb537eb34412756261d9d0a5ec405bf921751a8cdd4717");

/// Bytes of a lineage record.
pub const LINEAGE_LEN: usize = 6 * 32;

/// Storage slot of the length word of `model`'s record.
fn header_slot(model: B256) -> U256 {
    let mut preimage = [0u8; 64];
    preimage[..32].copy_from_slice(model.as_slice());
    U256::from_be_bytes(keccak256(preimage).0)
}

/// Slot of the first word of the bytes whose length word is at `header`.
fn data_start(header: U256) -> U256 {
    U256::from_be_bytes(keccak256(header.to_be_bytes::<32>()).0)
}

fn data_slot(header: U256, word: usize) -> U256 {
    data_start(header).wrapping_add(U256::from(word))
}

/// Reads a registry storage slot. The registry's account is loaded into the journal first:
/// the caller may be another precompile (model info, infer), which the EVM did not load it for.
fn sload<CTX: ContextTr>(ctx: &mut CTX, slot: U256) -> Result<U256, String> {
    let journal = ctx.journal_mut();
    journal.load_account(ADDRESS).map_err(|e| e.to_string())?;
    Ok(journal.sload(ADDRESS, slot).map_err(|e| e.to_string())?.data)
}

/// Reads of the registry's storage slots: through the EVM's journal ([`sload`]), or from a
/// state outside the EVM ([`read_registration_with`]). `Err` for a broken host.
type Slots<'a> = dyn FnMut(U256) -> Result<U256, String> + 'a;

/// Length in bytes of `model`'s record, or `None` if it is not registered. One storage read.
pub(crate) fn record_len<CTX: ContextTr>(
    ctx: &mut CTX,
    model: B256,
) -> Result<Option<usize>, String> {
    len_in(&mut |slot| sload(ctx, slot), model)
}

fn len_in(slots: &mut Slots<'_>, model: B256) -> Result<Option<usize>, String> {
    let value = slots(header_slot(model))?;
    if value.is_zero() {
        return Ok(None);
    }
    let len = usize::try_from((value - U256::from(1)) >> 1)
        .map_err(|_| "corrupt registry record".to_string())?;
    Ok(Some(len))
}

/// Words a record of `len` bytes occupies, its length word included.
pub fn record_words(len: usize) -> u64 {
    1 + len.div_ceil(32) as u64
}

/// Reads the `len` bytes of `model`'s record.
fn record_in(slots: &mut Slots<'_>, model: B256, len: usize) -> Result<Vec<u8>, String> {
    let start = data_start(header_slot(model));
    let mut out = Vec::with_capacity(len.div_ceil(32) * 32);
    for word in 0..len.div_ceil(32) {
        let value = slots(start.wrapping_add(U256::from(word)))?;
        out.extend_from_slice(&value.to_be_bytes::<32>());
    }
    out.truncate(len);
    Ok(out)
}

/// Where a registered model's registration lives: its own record, and for a trained model
/// its root's too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Located {
    /// Bytes of the model's own record.
    pub(crate) len: usize,
    /// For a lineage record: the root and the length of its record.
    pub(crate) root: Option<(B256, usize)>,
}

impl Located {
    /// Gas of reading the registration: each record read once.
    pub(crate) fn read_gas(&self, gas: &crate::gas::GasSchedule) -> u64 {
        let own = gas.registry_read(record_words(self.len));
        match self.root {
            Some((_, len)) => own.saturating_add(gas.registry_read(record_words(len))),
            None => own,
        }
    }
}

/// Finds `model`'s record (and its root's, for a trained model), or `None` if it is not
/// registered. Reads the length word, and for a record of lineage length its first two words.
pub(crate) fn locate<CTX: ContextTr>(
    ctx: &mut CTX,
    model: B256,
) -> Result<Option<Located>, String> {
    locate_in(&mut |slot| sload(ctx, slot), model)
}

fn locate_in(slots: &mut Slots<'_>, model: B256) -> Result<Option<Located>, String> {
    let Some(len) = len_in(slots, model)? else {
        return Ok(None);
    };
    if len != LINEAGE_LEN {
        return Ok(Some(Located { len, root: None }));
    }
    let header = header_slot(model);
    if B256::from(slots(data_slot(header, 0))?) != LINEAGE_TAG {
        return Ok(Some(Located { len, root: None }));
    }
    let root = B256::from(slots(data_slot(header, 1))?);
    let root_len = len_in(slots, root)?.ok_or("a lineage record names an unregistered root")?;
    Ok(Some(Located { len, root: Some((root, root_len)) }))
}

/// Slot of the warm set's clock: how many cold loads the chain has counted (Solidity's
/// `uint256` at slot 1).
const LOADS_SLOT: U256 = U256::from_limbs([1, 0, 0, 0]);

/// Slot of `loadedAt[model]` (Solidity's `mapping(bytes32 => uint256)` at slot 2): the clock
/// just after `model`'s last cold load, 0 if it never had one.
fn loaded_at_slot(model: B256) -> U256 {
    let mut preimage = [0u8; 64];
    preimage[..32].copy_from_slice(model.as_slice());
    preimage[63] = 2;
    U256::from_be_bytes(keccak256(preimage).0)
}

/// Loads `model` (of `size` bytes): if it is cold, charges
/// [`crate::gas::GasSchedule::cold_model`] for it, and it joins the warm set ([`warm_up`]); a
/// warm model costs nothing. Out of gas reverts the call, the count with it.
pub(crate) fn load<CTX: ContextTr>(
    ctx: &mut CTX,
    meter: &mut Meter,
    gas: &crate::gas::GasSchedule,
    model: B256,
    size: u64,
) -> Result<(), Stop> {
    if warm_up(ctx, model, gas.warm_models)? {
        meter.charge(gas.cold_model(size))?;
    }
    Ok(())
}

/// Puts `model` in the warm set if it is cold (a cold load is counted); whether it was cold.
pub(crate) fn warm_up<CTX: ContextTr>(
    ctx: &mut CTX,
    model: B256,
    warm_models: u64,
) -> Result<bool, String> {
    let cold = is_cold(ctx, model, warm_models)?;
    if cold {
        mark_loaded(ctx, model)?;
    }
    Ok(cold)
}

/// Whether `model` is cold: outside the chain's warm set of `warm_models` models (see the
/// module docs). Two storage reads.
fn is_cold<CTX: ContextTr>(ctx: &mut CTX, model: B256, warm_models: u64) -> Result<bool, String> {
    let loads = sload(ctx, LOADS_SLOT)?;
    let at = sload(ctx, loaded_at_slot(model))?;
    Ok(at.is_zero() || at > loads || loads - at >= U256::from(warm_models))
}

/// Counts a cold load of `model`: the clock advances, and `model` is the newest of the warm
/// set.
fn mark_loaded<CTX: ContextTr>(ctx: &mut CTX, model: B256) -> Result<(), String> {
    let loads = sload(ctx, LOADS_SLOT)?.saturating_add(U256::from(1));
    let journal = ctx.journal_mut();
    journal.sstore(ADDRESS, LOADS_SLOT, loads).map_err(|e| e.to_string())?;
    journal.sstore(ADDRESS, loaded_at_slot(model), loads).map_err(|e| e.to_string())?;
    journal.touch_account(ADDRESS);
    Ok(())
}

/// A trained model's lineage record (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lineage {
    /// The ancestor with a full record.
    pub(crate) root: B256,
    /// The model it was trained from.
    pub(crate) parent: B256,
    /// Its file's size.
    pub(crate) size: u64,
    /// Who trained it.
    pub(crate) owner: Address,
    /// When.
    pub(crate) registered_at: u64,
}

impl Lineage {
    fn encode(&self) -> Vec<u8> {
        (LINEAGE_TAG, self.root, self.parent, self.size, self.owner, self.registered_at)
            .abi_encode_params()
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let (_, root, parent, size, owner, registered_at) =
            <(B256, B256, B256, u64, Address, u64)>::abi_decode_params(bytes)
                .map_err(|e| e.to_string())?;
        Ok(Self { root, parent, size, owner, registered_at })
    }

    /// The trained model `model`'s registration, from its root's.
    fn registration(&self, model: B256, root: Registration) -> Registration {
        Registration {
            info: crate::model::ModelInfo {
                hash: model,
                size: self.size,
                parent: Some(self.parent),
                ..root.info
            },
            owner: self.owner,
            registered_at: self.registered_at,
            ..root
        }
    }
}

/// Writes the lineage record of the trained model `model`.
pub(crate) fn write_lineage<CTX: ContextTr>(
    ctx: &mut CTX,
    model: B256,
    lineage: &Lineage,
) -> Result<(), String> {
    write_record(ctx, model, &lineage.encode())
}

fn decode_full(model: B256, bytes: &[u8]) -> Result<Registration, DnnError> {
    crate::abi::ModelInfo::abi_decode(bytes)
        .map_err(|e| e.to_string())
        .and_then(Registration::from_abi)
        .map_err(|e| {
            DnnError::MalformedCall(format!("the registry record of {model} is corrupt: {e}"))
        })
}

fn corrupt(model: B256, e: String) -> DnnError {
    DnnError::MalformedCall(format!("the registry record of {model} is corrupt: {e}"))
}

/// Reads and decodes the registration of `model`, found by [`locate`].
pub(crate) fn read_registration<CTX: ContextTr>(
    ctx: &mut CTX,
    model: B256,
    located: Located,
) -> Result<Result<Registration, DnnError>, String> {
    registration_in(&mut |slot| sload(ctx, slot), model, located)
}

fn registration_in(
    slots: &mut Slots<'_>,
    model: B256,
    located: Located,
) -> Result<Result<Registration, DnnError>, String> {
    let record = RawRecord::read(slots, model, located)?;
    Ok(record.decode())
}

/// A registration's bytes as state holds them: the model's record, and its root's for a
/// trained model (whose own record is a lineage record).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RawRecord {
    pub(crate) model: B256,
    bytes: Vec<u8>,
    root: Option<(B256, Vec<u8>)>,
}

impl RawRecord {
    fn read(slots: &mut Slots<'_>, model: B256, located: Located) -> Result<Self, String> {
        let bytes = record_in(slots, model, located.len)?;
        let root = match located.root {
            Some((root, len)) => Some((root, record_in(slots, root, len)?)),
            None => None,
        };
        Ok(Self { model, bytes, root })
    }

    fn decode(&self) -> Result<Registration, DnnError> {
        let Some((root, root_bytes)) = &self.root else {
            return decode_full(self.model, &self.bytes);
        };
        let lineage = Lineage::decode(&self.bytes).map_err(|e| corrupt(self.model, e))?;
        decode_full(*root, root_bytes).map(|r| lineage.registration(self.model, r))
    }
}

/// `model`'s registration (found by [`locate`]), decoded once per record content: an entry of
/// `dnn`'s cache is used only for the record bytes it was decoded from, so it is only ever the
/// decoding of the very bytes this state holds — a state override or a dev edit that forges a record gets
/// its own entry and cannot change what another state reads.
pub(crate) fn read_registration_cached<CTX: ContextTr>(
    ctx: &mut CTX,
    model: B256,
    located: Located,
    dnn: &crate::Dnn,
) -> Result<Result<Arc<Registration>, DnnError>, String> {
    let record = RawRecord::read(&mut |slot| sload(ctx, slot), model, located)?;
    if let Some(registration) = dnn.cached_registration(&record) {
        return Ok(Ok(registration));
    }
    Ok(record.decode().map(|r| dnn.cache_registration(record, r)))
}

/// `model`'s registration read through `sload` (a storage read of this address at a slot),
/// for tools outside the EVM (RPC). `None` if the model is not registered.
pub fn read_registration_with(
    model: B256,
    mut sload: impl FnMut(U256) -> U256,
) -> Option<Result<Registration, DnnError>> {
    let slots: &mut Slots<'_> = &mut |slot| Ok(sload(slot));
    let located = match locate_in(slots, model) {
        Ok(located) => located?,
        Err(e) => return Some(Err(corrupt(model, e))),
    };
    Some(registration_in(slots, model, located).unwrap_or_else(|e| Err(corrupt(model, e))))
}

pub(crate) fn write_record<CTX: ContextTr>(
    ctx: &mut CTX,
    model: B256,
    bytes: &[u8],
) -> Result<(), String> {
    let journal = ctx.journal_mut();
    journal.load_account(ADDRESS).map_err(|e| e.to_string())?;
    let header = header_slot(model);
    let length = U256::from(bytes.len()) * U256::from(2) + U256::from(1);
    journal.sstore(ADDRESS, header, length).map_err(|e| e.to_string())?;
    let start = data_start(header);
    for (word, chunk) in bytes.chunks(32).enumerate() {
        let mut padded = [0u8; 32];
        padded[..chunk.len()].copy_from_slice(chunk);
        journal
            .sstore(ADDRESS, start.wrapping_add(U256::from(word)), U256::from_be_bytes(padded))
            .map_err(|e| e.to_string())?;
    }
    journal.touch_account(ADDRESS);
    Ok(())
}

/// Registers, under a [`Meter`] that charged `register_base`.
pub(crate) fn run<CTX: ContextTr>(
    ctx: &mut CTX,
    call: &CallInputs,
    input: &[u8],
    dnn: &Dnn,
    meter: &mut Meter,
) -> Result<Vec<u8>, Stop> {
    let (model, name, rule) = match decode(input)? {
        IModelRegistry::IModelRegistryCalls::register(c) => (c.model, c.name, Ok(Rule::DEFAULT)),
        IModelRegistry::IModelRegistryCalls::registerWithRule(c) => {
            (c.model, c.name, Rule::from_abi(&c.rule))
        }
    };
    // The registered rule settles the model's inference.
    let rule = rule.map_err(DnnError::MalformedCall)?;
    rule.validate_for(JobKind::Register).map_err(DnnError::MalformedCall)?;
    refuse_static_and_delegate(call, "register")?;
    if name.len() > MAX_NAME_LEN {
        return Err(DnnError::MalformedCall(format!(
            "the model name has {} bytes, the limit is {MAX_NAME_LEN}",
            name.len()
        ))
        .into());
    }
    if record_len(ctx, model)?.is_some() {
        return Err(DnnError::AlreadyRegistered(model).into());
    }
    let registered_at = u64::try_from(ctx.block().number()).unwrap_or(u64::MAX);
    // Charge the smallest record this registration can write (no inputs or outputs) before
    // the committee analyses the model, so a call that cannot pay for it costs nobody work.
    let smallest = Registration {
        info: crate::model::ModelInfo {
            hash: model,
            size: 0,
            cost: crate::cost::Cost::constant(0, 0),
            inputs: Vec::new(),
            outputs: Vec::new(),
            parent: None,
        },
        name: name.clone(),
        owner: call.caller,
        registered_at,
        rule,
    };
    let smallest = smallest.to_abi().abi_encode().len();
    meter.charge_total(Some(dnn.gas().register(record_words(smallest))))?;
    let info = dnn.oracle().model_info(model).map_err(DnnError::from)?;
    if info.hash != model {
        return Err(DnnError::InferenceFailed(format!(
            "the model store answered for {} instead of {model}",
            info.hash
        ))
        .into());
    }
    let registration =
        Registration { info, name: name.clone(), owner: call.caller, registered_at, rule };
    let record = registration.to_abi().abi_encode();
    meter.charge_total(Some(dnn.gas().register(record_words(record.len()))))?;
    write_record(ctx, model, &record)?;
    let event = IModelRegistry::ModelRegistered { model, owner: call.caller, name };
    ctx.journal_mut().log(Log { address: ADDRESS, data: event.encode_log_data() });
    Ok(Vec::new())
}

fn decode(input: &[u8]) -> Result<IModelRegistry::IModelRegistryCalls, DnnError> {
    IModelRegistry::IModelRegistryCalls::abi_decode(input)
        .map_err(|e| crate::provider::call_error::<IModelRegistry::IModelRegistryCalls>(input, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Outside the EVM, a root's registration reads back as written, a trained model's as its
    /// root's with its own hash, size, parent, trainer and block; an unknown model is `None`,
    /// a lineage naming an unregistered root an error.
    #[test]
    fn registrations_read_outside_the_evm() {
        let mut storage = std::collections::HashMap::<U256, U256>::new();
        let mut write = |model: B256, bytes: &[u8]| {
            let header = header_slot(model);
            storage.insert(header, U256::from(bytes.len() * 2 + 1));
            for (word, chunk) in bytes.chunks(32).enumerate() {
                let mut padded = [0u8; 32];
                padded[..chunk.len()].copy_from_slice(chunk);
                storage.insert(data_slot(header, word), U256::from_be_bytes(padded));
            }
        };
        let (root, child, orphan) =
            (B256::repeat_byte(1), B256::repeat_byte(2), B256::repeat_byte(3));
        let registration = Registration {
            info: crate::model::ModelInfo {
                hash: root,
                size: 10,
                cost: crate::cost::Cost::constant(0, 5),
                inputs: Vec::new(),
                outputs: Vec::new(),
                parent: None,
            },
            name: "root".into(),
            owner: Address::repeat_byte(9),
            registered_at: 3,
            rule: Rule::tolerance(11, 22),
        };
        write(root, &registration.to_abi().abi_encode());
        let lineage = |root| Lineage {
            root,
            parent: root,
            size: 77,
            owner: Address::repeat_byte(8),
            registered_at: 4,
        };
        write(child, &lineage(root).encode());
        write(orphan, &lineage(B256::repeat_byte(4)).encode());
        let read = |model| {
            read_registration_with(model, |slot| storage.get(&slot).copied().unwrap_or_default())
        };

        assert_eq!(read(root), Some(Ok(registration.clone())));
        let trained = read(child).unwrap().unwrap();
        assert_eq!(
            (trained.info.hash, trained.info.size, trained.info.parent),
            (child, 77, Some(root))
        );
        assert_eq!((trained.owner, trained.registered_at), (Address::repeat_byte(8), 4));
        assert_eq!((trained.name, trained.rule), (registration.name, registration.rule));
        assert_eq!(read(B256::repeat_byte(5)), None);
        let Some(Err(e)) = read(orphan) else { panic!("an orphan lineage reads as an error") };
        assert!(e.to_string().contains("names an unregistered root"), "{e}");
    }

    /// A lineage record round-trips, is six words, and cannot be mistaken for a full record
    /// (whose first word is the ABI offset 0x20).
    #[test]
    fn lineage_records() {
        let lineage = Lineage {
            root: B256::repeat_byte(1),
            parent: B256::repeat_byte(2),
            size: 1234,
            owner: Address::repeat_byte(3),
            registered_at: 9,
        };
        let bytes = lineage.encode();
        assert_eq!(bytes.len(), LINEAGE_LEN);
        assert_eq!(&bytes[..32], LINEAGE_TAG.as_slice());
        assert_eq!(Lineage::decode(&bytes).unwrap(), lineage);
        assert_eq!(LINEAGE_TAG, keccak256("ANH-LINEAGE-v1"));
        assert_ne!(LINEAGE_TAG, B256::from(U256::from(0x20)));
    }

    /// The header slot is Solidity's `keccak256(abi.encode(key, 0))` for a mapping at slot 0.
    #[test]
    fn solidity_mapping_layout() {
        let model = B256::repeat_byte(0xab);
        let expected = keccak256((model, U256::ZERO).abi_encode());
        assert_eq!(header_slot(model), U256::from_be_bytes(expected.0));
        assert_eq!(record_words(0), 1);
        assert_eq!(record_words(32), 2);
        assert_eq!(record_words(33), 3);
    }
}
