//! **A test aid**, beside the real path: a member that misbehaves in one chosen way, to check
//! that a committee survives the faults of docs/design.md ("Faults the committee survives").
//!
//! [`FaultyMember`] wraps a real member (it claims the wrapped member's address) and:
//!
//! | fault | compute | attest |
//! |---|---|---|
//! | [`Fault::Down`] | transport error | transport error |
//! | [`Fault::Slow`] | answers after the delay | answers after the delay |
//! | [`Fault::WrongOutput`] | one element of the output changed | as the real member |
//! | [`Fault::WrongDigest`] | as the real member | the member's real signature, of another chain's digest |
//! | [`Fault::ForeignKey`] | as the real member | a signature of the right digest by a key outside the committee |
//! | [`Fault::CopySignatureOf`] | as the real member | another member's signature, copied |
//!
//! `attest_failure` and `attest_block` misbehave as `attest` does (a wrong digest: another
//! block number's).
//!
//! Nothing in the node or the executor uses it; it is public so that other crates' tests
//! (end-to-end, benchmarks) can build Byzantine committees.

use crate::{
    error::ExecutorError,
    job::{BlockJobs, BlockRound, Job},
    member::{Member, MemberFuture},
};
use alloy_primitives::{Address, Bytes};
use anh_primitives::{
    HostTensor, TensorData,
    job::{decode_tensors, encode_tensors},
    signature::{address_of, sign},
};
use k256::ecdsa::SigningKey;
use std::{sync::Arc, time::Duration};

/// How a [`FaultyMember`] misbehaves (see the module docs).
#[derive(Debug, Clone)]
pub enum Fault {
    /// Never answers: every call fails at once, as a refused connection does.
    Down,
    /// Answers after this delay (past the committee's timeout, it is a slow member).
    Slow(Duration),
    /// Returns an output with one element changed; attests honestly.
    WrongOutput,
    /// Signs, with its real key, the digest of the same job on another chain.
    WrongDigest,
    /// Signs the right digest with this key, which is not the member's.
    ForeignKey(SigningKey),
    /// Returns this other member's signature as its own.
    CopySignatureOf(Arc<dyn Member>),
}

/// A member with a [`Fault`] (a test aid: see the module docs).
#[derive(Debug, Clone)]
pub struct FaultyMember {
    inner: Arc<dyn Member>,
    fault: Fault,
}

impl FaultyMember {
    /// `inner`, misbehaving as `fault` says.
    pub fn new(inner: Arc<dyn Member>, fault: Fault) -> Self {
        Self { inner, fault }
    }

    /// The fault.
    pub fn fault(&self) -> &Fault {
        &self.fault
    }

    fn down(&self) -> ExecutorError {
        ExecutorError::Transport {
            member: self.inner.describe(),
            reason: "connection refused (injected fault: down)".into(),
        }
    }
}

/// `output` with its first tensor's first element changed (or its last byte flipped if it
/// does not decode as tensors).
fn corrupt(output: &Bytes) -> Bytes {
    let changed = decode_tensors(output).ok().and_then(|mut tensors| {
        let first = tensors.first_mut()?;
        let shape = first.shape().to_vec();
        let data = match first.data().clone() {
            TensorData::F32(mut v) => {
                *v.first_mut()? += 1.0;
                TensorData::F32(v)
            }
            TensorData::F64(mut v) => {
                *v.first_mut()? += 1.0;
                TensorData::F64(v)
            }
            TensorData::I32(mut v) => {
                *v.first_mut()? ^= 1;
                TensorData::I32(v)
            }
            TensorData::I64(mut v) => {
                *v.first_mut()? ^= 1;
                TensorData::I64(v)
            }
            TensorData::U8(mut v) => {
                *v.first_mut()? ^= 1;
                TensorData::U8(v)
            }
            TensorData::I8(mut v) => {
                *v.first_mut()? ^= 1;
                TensorData::I8(v)
            }
            TensorData::Bool(mut v) => {
                let x = v.first_mut()?;
                *x = !*x;
                TensorData::Bool(v)
            }
        };
        *first = HostTensor::new(shape, data)?;
        encode_tensors(&tensors).ok()
    });
    changed.unwrap_or_else(|| {
        let mut bytes = output.to_vec();
        if let Some(last) = bytes.last_mut() {
            *last ^= 1;
        } else {
            bytes.push(1);
        }
        bytes.into()
    })
}

impl Member for FaultyMember {
    fn address(&self) -> Address {
        self.inner.address()
    }

    fn describe(&self) -> String {
        let fault = match &self.fault {
            Fault::Down => "down".to_string(),
            Fault::Slow(delay) => format!("slow, {delay:?}"),
            Fault::WrongOutput => "wrong output".into(),
            Fault::WrongDigest => "wrong digest".into(),
            Fault::ForeignKey(key) => format!("signs as {}", address_of(key)),
            Fault::CopySignatureOf(other) => format!("copies {}", other.address()),
        };
        format!("{} (faulty: {fault})", self.inner.describe())
    }

    fn compute(&self, job: Arc<Job>) -> MemberFuture<'_, Bytes> {
        Box::pin(async move {
            match &self.fault {
                Fault::Down => Err(self.down()),
                Fault::Slow(delay) => {
                    tokio::time::sleep(*delay).await;
                    self.inner.compute(job).await
                }
                Fault::WrongOutput => Ok(corrupt(&self.inner.compute(job).await?)),
                _ => self.inner.compute(job).await,
            }
        })
    }

    fn attest(&self, job: Arc<Job>, candidate: Bytes) -> MemberFuture<'_, Bytes> {
        Box::pin(async move {
            match &self.fault {
                Fault::Down => Err(self.down()),
                Fault::Slow(delay) => {
                    tokio::time::sleep(*delay).await;
                    self.inner.attest(job, candidate).await
                }
                Fault::WrongDigest => {
                    let other_chain = Job { chain_id: job.chain_id ^ 1, ..(*job).clone() };
                    self.inner.attest(Arc::new(other_chain), candidate).await
                }
                Fault::ForeignKey(key) => {
                    self.inner.attest(job.clone(), candidate.clone()).await?;
                    let signature =
                        sign(key, &job.digest(&candidate)).map_err(ExecutorError::Signing)?;
                    Ok(Bytes::from(signature.to_vec()))
                }
                Fault::CopySignatureOf(other) => other.attest(job, candidate).await,
                Fault::WrongOutput => self.inner.attest(job, candidate).await,
            }
        })
    }

    fn attest_failure(&self, job: Arc<Job>, failure: Bytes) -> MemberFuture<'_, Bytes> {
        Box::pin(async move {
            match &self.fault {
                Fault::Down => Err(self.down()),
                Fault::Slow(delay) => {
                    tokio::time::sleep(*delay).await;
                    self.inner.attest_failure(job, failure).await
                }
                Fault::WrongDigest => {
                    let other_chain = Job { chain_id: job.chain_id ^ 1, ..(*job).clone() };
                    self.inner.attest_failure(Arc::new(other_chain), failure).await
                }
                Fault::ForeignKey(key) => {
                    self.inner.attest_failure(job.clone(), failure.clone()).await?;
                    let signature =
                        sign(key, &job.failure_digest(&failure)).map_err(ExecutorError::Signing)?;
                    Ok(Bytes::from(signature.to_vec()))
                }
                Fault::CopySignatureOf(other) => other.attest_failure(job, failure).await,
                Fault::WrongOutput => self.inner.attest_failure(job, failure).await,
            }
        })
    }

    fn attest_block(&self, block: Arc<BlockRound>) -> MemberFuture<'_, Bytes> {
        Box::pin(async move {
            match &self.fault {
                Fault::Down => Err(self.down()),
                Fault::Slow(delay) => {
                    tokio::time::sleep(*delay).await;
                    self.inner.attest_block(block).await
                }
                Fault::WrongDigest => {
                    let number = block.block().number ^ 1;
                    let other = BlockRound::new(BlockJobs { number, ..block.block().clone() });
                    self.inner.attest_block(Arc::new(other)).await
                }
                Fault::ForeignKey(key) => {
                    self.inner.attest_block(block.clone()).await?;
                    let signature = sign(key, &block.digest()).map_err(ExecutorError::Signing)?;
                    Ok(Bytes::from(signature.to_vec()))
                }
                Fault::CopySignatureOf(other) => other.attest_block(block).await,
                Fault::WrongOutput => self.inner.attest_block(block).await,
            }
        })
    }

    fn artifact(&self, model: alloy_primitives::B256) -> MemberFuture<'_, Bytes> {
        Box::pin(async move {
            match &self.fault {
                Fault::Down => Err(self.down()),
                _ => self.inner.artifact(model).await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A corrupted output decodes to different tensors of the same shape.
    #[test]
    fn corrupt_changes_one_element() {
        let t = HostTensor::new(vec![2], TensorData::I64(vec![4, 5])).unwrap();
        let output = encode_tensors(&[t]).unwrap();
        let changed = decode_tensors(&corrupt(&output)).unwrap();
        assert_eq!(changed[0].shape(), &[2]);
        assert_eq!(changed[0].data(), &TensorData::I64(vec![5, 5]));
        assert_ne!(corrupt(&Bytes::from_static(b"ab")), Bytes::from_static(b"ab"));
    }
}
