//! The GAN behind `examples/gan-nft`: its data set, its two networks as ONNX graphs, and the
//! adversarial training, all through ANH's autodiff ([`anh_runtime::train`]) on ONNX Runtime.
//!
//! **Data.** 8×8 grayscale digits: the ten glyphs of a 3×5 bitmap font, each drawn with a
//! random scale, slant and offset, anti-aliased (4×4 samples per pixel), with a random
//! brightness and a little Gaussian noise ([`digit`], [`dataset`]).
//!
//! **Networks.** The generator maps `z[batch, 16]` (uniform in [-1, 1]) through
//! `Gemm(256) → LeakyRelu(0.2) → Gemm(64) → Sigmoid` to `image[batch, 64]` in [0, 1]; the
//! discriminator maps `x[batch, 64]` through `Gemm(256) → LeakyRelu(0.2) → Gemm(2)` to logits
//! (class 1: real). Weights are named `g.*` and `d.*`.
//!
//! **Training.** Each iteration samples a batch of real digits and latent vectors, then
//! 1. draws the fakes with the generator (a forward graph whose weights are inputs);
//! 2. steps the discriminator (Adam, cross-entropy on logits) on real digits labelled 1 and
//!    fakes labelled 0 — the step graph of the discriminator model;
//! 3. steps the generator through the combined graph `z → G → D → logits`, the fakes labelled
//!    1 (the non-saturating generator loss), with only `g.*` trainable
//!    ([`TrainSpec::trainable`]); the discriminator's current weights are inputs of that graph,
//!    so its step graph is built once and the discriminator does not move.
//!
//! The file the chain runs ([`generator_model`]) is the trained generator followed by a `Mul`
//! by 255, so that its output is in grey levels.
//!
//! The step graphs are ONNX models like any other: they go into a [`ModelStore`] and run on
//! an [`OrtRuntime`], feeding each step's new weights and Adam state into the next.

use crate::common::{Result, Rng};
use anh_runtime::{
    Dim, HostTensor, ModelRuntime, ModelStore, OrtRuntime, RuntimeConfig, TensorData,
    onnx::{
        AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
        TensorProto, TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
    },
    train::{Loss, Optimizer, StepGraph, TrainSpec, build_step_graph, read_weights},
};
use prost::Message;
use std::{collections::HashMap, sync::Arc};

/// Latent dimensions (the contract's `GanArt.LATENT`).
pub const LATENT: usize = 16;
/// Pixels per side.
pub const SIDE: usize = 8;
/// Pixels of an image.
pub const PIXELS: usize = SIDE * SIDE;
/// Hidden units of both networks.
const HIDDEN: usize = 256;
/// The slope of the LeakyRelu units.
const LEAK: f32 = 0.2;

/// The digits 0–9 of a 3×5 bitmap font: five rows, top first, three bits each (left = 4).
const FONT: [[u8; 5]; 10] = [
    [0b111, 0b101, 0b101, 0b101, 0b111],
    [0b010, 0b110, 0b010, 0b010, 0b111],
    [0b111, 0b001, 0b111, 0b100, 0b111],
    [0b111, 0b001, 0b011, 0b001, 0b111],
    [0b101, 0b101, 0b111, 0b001, 0b001],
    [0b111, 0b100, 0b111, 0b001, 0b111],
    [0b111, 0b100, 0b111, 0b101, 0b111],
    [0b111, 0b001, 0b010, 0b010, 0b010],
    [0b111, 0b101, 0b111, 0b101, 0b111],
    [0b111, 0b101, 0b111, 0b001, 0b111],
];

/// An 8×8 image, row-major, values in [0, 1] (1: ink).
pub type Glyph = [f32; PIXELS];

/// Digit `d` (0–9) drawn with a random scale, slant, offset and brightness, plus noise.
pub fn digit(d: usize, rng: &mut Rng) -> Glyph {
    let uniform = |rng: &mut Rng, lo: f64, hi: f64| lo + (hi - lo) * rng.uniform();
    let (sx, sy) = (uniform(rng, 1.5, 2.1), uniform(rng, 1.25, 1.55));
    let (cx, cy) = (4.0 + uniform(rng, -0.6, 0.6), 4.0 + uniform(rng, -0.4, 0.4));
    let slant = uniform(rng, -0.2, 0.2);
    let brightness = uniform(rng, 0.8, 1.0);
    let rows = &FONT[d % 10];
    let mut out = [0f32; PIXELS];
    for (i, pixel) in out.iter_mut().enumerate() {
        let (px, py) = ((i % SIDE) as f64, (i / SIDE) as f64);
        let mut covered = 0;
        for s in 0..16 {
            let (x, y) = (px + (f64::from(s % 4) + 0.5) / 4.0, py + (f64::from(s / 4) + 0.5) / 4.0);
            let v = (y - cy) / sy + 2.5;
            let u = (x - cx - slant * (y - cy)) / sx + 1.5;
            if (0.0..3.0).contains(&u) && (0.0..5.0).contains(&v) {
                let (col, row) = (u as usize, v as usize);
                covered += usize::from(rows[row] >> (2 - col) & 1 == 1);
            }
        }
        let value = covered as f64 / 16.0 * brightness + 0.03 * rng.normal();
        *pixel = value.clamp(0.0, 1.0) as f32;
    }
    out
}

/// `n` digits, cycling through 0–9, from the generator seeded with `seed`.
pub fn dataset(n: usize, seed: u64) -> Vec<Glyph> {
    let mut rng = Rng::new(seed);
    (0..n).map(|i| digit(i % 10, &mut rng)).collect()
}

/// A named float32 weight tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// The initializer's name.
    pub name: String,
    /// Its shape.
    pub dims: Vec<i64>,
    /// Its values, row-major.
    pub values: Vec<f32>,
}

/// A multi-layer perceptron: `Gemm → LeakyRelu` layers, a last `Gemm`, and optionally a
/// final activation; its weights are `<prefix>w<i>` (`[in, out]`) and `<prefix>b<i>`.
#[derive(Debug, Clone)]
struct Mlp {
    prefix: &'static str,
    sizes: Vec<usize>,
    last: Option<&'static str>,
}

impl Mlp {
    /// Weights drawn uniformly from ±1/√fan-in, biases zero.
    fn init(&self, rng: &mut Rng) -> Vec<Param> {
        let mut params = Vec::new();
        for (layer, pair) in self.sizes.windows(2).enumerate() {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            let scale = 1.0 / (fan_in as f64).sqrt();
            params.push(Param {
                name: format!("{}w{layer}", self.prefix),
                dims: vec![fan_in as i64, fan_out as i64],
                values: (0..fan_in * fan_out)
                    .map(|_| ((2.0 * rng.uniform() - 1.0) * scale) as f32)
                    .collect(),
            });
            params.push(Param {
                name: format!("{}b{layer}", self.prefix),
                dims: vec![fan_out as i64],
                values: vec![0.0; fan_out],
            });
        }
        params
    }

    /// The nodes from `input` to `output`.
    fn nodes(&self, input: &str, output: &str) -> Vec<NodeProto> {
        let mut nodes = Vec::new();
        let mut last = input.to_string();
        let layers = self.sizes.len() - 1;
        for layer in 0..layers {
            let final_gemm = layer + 1 == layers;
            let gemm = if final_gemm && self.last.is_none() {
                output.to_string()
            } else {
                format!("{}gemm{layer}", self.prefix)
            };
            nodes.push(node(
                "Gemm",
                &[&last, &format!("{}w{layer}", self.prefix), &format!("{}b{layer}", self.prefix)],
                &gemm,
                vec![],
            ));
            last = gemm;
            if !final_gemm {
                let act = format!("{}act{layer}", self.prefix);
                let alpha = AttributeProto {
                    name: "alpha".into(),
                    r#type: 1,
                    f: LEAK,
                    ..Default::default()
                };
                nodes.push(node("LeakyRelu", &[&last], &act, vec![alpha]));
                last = act;
            }
        }
        if let Some(op) = self.last {
            nodes.push(node(op, &[&last], output, vec![]));
        }
        nodes
    }
}

fn generator_net() -> Mlp {
    Mlp { prefix: "g.", sizes: vec![LATENT, HIDDEN, PIXELS], last: Some("Sigmoid") }
}

fn discriminator_net() -> Mlp {
    Mlp { prefix: "d.", sizes: vec![PIXELS, HIDDEN, 2], last: None }
}

fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: output.into(),
        op_type: op.into(),
        attribute,
        ..Default::default()
    }
}

/// A float32 graph input or output; `None` dimensions are the symbolic `batch`.
fn value_info(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| match d {
            Some(n) => Dimension { dim_value: Some(*n), dim_param: None },
            None => Dimension { dim_value: None, dim_param: Some("batch".into()) },
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: 1,
                shape: Some(TensorShapeProto { dim }),
            }),
            ..Default::default()
        }),
    }
}

fn initializer(p: &Param) -> TensorProto {
    TensorProto {
        name: p.name.clone(),
        dims: p.dims.clone(),
        data_type: 1,
        raw_data: p.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn param_input(p: &Param) -> ValueInfoProto {
    value_info(&p.name, &p.dims.iter().map(|&d| Some(d)).collect::<Vec<_>>())
}

/// An ONNX file (opset 17) of `nodes` with `initializers` baked in.
fn model(
    name: &str,
    nodes: Vec<NodeProto>,
    initializers: &[Param],
    input: Vec<ValueInfoProto>,
    output: Vec<ValueInfoProto>,
) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        producer_name: "anh-examples gan-nft".into(),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(GraphProto {
            name: name.into(),
            node: nodes,
            initializer: initializers.iter().map(initializer).collect(),
            input,
            output,
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// The generator as the chain runs it: `z[batch, 16]` → `pixels[batch, 64]` in [0, 255]
/// (the trained network's sigmoid output times 255, so that the inference precompile returns
/// grey levels as uint8), weights `g` baked in.
pub fn generator_model(g: &[Param]) -> Vec<u8> {
    let mut nodes = generator_net().nodes("z", "g.image");
    nodes.push(node("Mul", &["g.image", "g.scale"], "pixels", vec![]));
    let mut weights = g.to_vec();
    weights.push(Param { name: "g.scale".into(), dims: vec![], values: vec![255.0] });
    model(
        "gan_generator",
        nodes,
        &weights,
        vec![value_info("z", &[None, Some(LATENT as i64)])],
        vec![value_info("pixels", &[None, Some(PIXELS as i64)])],
    )
}

/// The generator with its weights as inputs (`z`, then `g.*`), to draw fakes while training.
fn generator_forward(g: &[Param]) -> Vec<u8> {
    let mut input = vec![value_info("z", &[None, Some(LATENT as i64)])];
    input.extend(g.iter().map(param_input));
    model(
        "gan_generator_forward",
        generator_net().nodes("z", "image"),
        &[],
        input,
        vec![value_info("image", &[None, Some(PIXELS as i64)])],
    )
}

/// The discriminator: `x[batch, 64]` → `logits[batch, 2]`, weights `d` baked in.
fn discriminator_model(d: &[Param]) -> Vec<u8> {
    model(
        "gan_discriminator",
        discriminator_net().nodes("x", "logits"),
        d,
        vec![value_info("x", &[None, Some(PIXELS as i64)])],
        vec![value_info("logits", &[None, Some(2)])],
    )
}

/// The generator followed by the discriminator: `z` and the discriminator's weights (`d.*`)
/// as inputs, the generator's weights baked in, `logits[batch, 2]` out.
fn combined_model(g: &[Param], d: &[Param]) -> Vec<u8> {
    let mut nodes = generator_net().nodes("z", "g.image");
    nodes.extend(discriminator_net().nodes("g.image", "logits"));
    let mut input = vec![value_info("z", &[None, Some(LATENT as i64)])];
    input.extend(d.iter().map(param_input));
    model(
        "gan_generator_discriminator",
        nodes,
        g,
        input,
        vec![value_info("logits", &[None, Some(2)])],
    )
}

fn f32_host(shape: Vec<u64>, values: Vec<f32>) -> Result<HostTensor> {
    HostTensor::new(shape, TensorData::F32(values)).ok_or_else(|| "tensor shape mismatch".into())
}

fn f32_of(t: HostTensor) -> Result<Vec<f32>> {
    match t.into_parts().1 {
        TensorData::F32(v) => Ok(v),
        other => Err(format!("expected float32, got {}", other.elem_type()).into()),
    }
}

/// One network being trained by its step graph: current weights and Adam state by name.
#[derive(Debug)]
struct Stepper {
    graph: anh_runtime::ModelInfo,
    step: StepGraph,
    values: HashMap<String, Vec<f32>>,
}

impl Stepper {
    /// The step graph of `model` for `spec`, stored in `store`; weights start as `model`'s,
    /// the optimiser state at zero.
    fn new(store: &ModelStore, model: &[u8], spec: &TrainSpec) -> Result<Self> {
        let step = build_step_graph(model, spec)?;
        let graph = store.put(&step.model)?;
        let mut values: HashMap<String, Vec<f32>> =
            read_weights(model, spec)?.into_iter().collect();
        for s in &step.state {
            values.insert(s.name.clone(), vec![0.0; numel(&s.shape)]);
        }
        Ok(Self { graph, step, values })
    }

    /// One optimiser step on `batch` with learning rate `lr`; returns the loss before it.
    fn step(&mut self, runtime: &OrtRuntime, batch: Vec<HostTensor>, lr: f32) -> Result<f64> {
        let mut inputs = Vec::new();
        for spec in self.step.weights.iter().chain(&self.step.state) {
            let shape = spec.shape.iter().map(dim).collect();
            inputs.push(f32_host(shape, self.values[&spec.name].clone())?);
        }
        inputs.extend(batch);
        inputs.push(f32_host(vec![], vec![lr])?);
        let outputs = runtime.run(self.graph.hash, inputs)?;
        let names = self.step.weights.iter().chain(&self.step.state).map(|s| s.name.clone());
        let mut outputs = outputs.into_iter();
        for (name, t) in names.zip(outputs.by_ref()) {
            self.values.insert(name, f32_of(t)?);
        }
        let loss = f32_of(outputs.next().ok_or("the step graph returned no loss")?)?;
        Ok(f64::from(loss[0]))
    }

    /// The current values of `params` (same names and shapes).
    fn params(&self, like: &[Param]) -> Vec<Param> {
        like.iter().map(|p| Param { values: self.values[&p.name].clone(), ..p.clone() }).collect()
    }
}

fn dim(d: &Dim) -> u64 {
    match d {
        Dim::Fixed(n) => *n,
        Dim::Symbolic(_) => 1,
    }
}

fn numel(shape: &[Dim]) -> usize {
    shape.iter().map(dim).product::<u64>() as usize
}

/// How to train the GAN.
#[derive(Debug, Clone)]
pub struct GanConfig {
    /// Iterations (one discriminator step and one generator step each).
    pub iterations: usize,
    /// Real images (and fakes) per step.
    pub batch: usize,
    /// Digits in the data set.
    pub samples: usize,
    /// The discriminator's Adam learning rate.
    pub lr_discriminator: f32,
    /// The generator's Adam learning rate.
    pub lr_generator: f32,
    /// Seeds the data, the initial weights and the batches.
    pub seed: u64,
}

impl Default for GanConfig {
    fn default() -> Self {
        Self {
            iterations: 20000,
            batch: 64,
            samples: 4096,
            lr_discriminator: 5e-4,
            lr_generator: 5e-4,
            seed: 2024,
        }
    }
}

/// A trained generator and how training went.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The generator's ONNX file ([`generator_model`] with the trained weights).
    pub model: Vec<u8>,
    /// The discriminator's loss (real and fake) at each iteration, before its step.
    pub d_losses: Vec<f64>,
    /// The generator's loss at each iteration, before its step.
    pub g_losses: Vec<f64>,
    /// Some real digits of the data set.
    pub real: Vec<Glyph>,
    /// Fakes the trained generator draws from fixed latent vectors (values in [0, 1]).
    pub fakes: Vec<Glyph>,
}

/// `n` latent vectors, uniform in [-1, 1].
pub fn latents(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n * LATENT).map(|_| (2.0 * rng.uniform() - 1.0) as f32).collect()
}

/// A runtime over a fresh temporary model store.
fn runtime() -> Result<(Arc<ModelStore>, OrtRuntime)> {
    let store = Arc::new(ModelStore::temporary()?);
    let runtime = OrtRuntime::new(store.clone(), RuntimeConfig::default())?;
    Ok((store, runtime))
}

/// Trains a GAN on [`dataset`] as the module docs say, calling `progress(iteration, d_loss,
/// g_loss)` after every iteration.
pub fn train(config: &GanConfig, mut progress: impl FnMut(usize, f64, f64)) -> Result<Trained> {
    let (store, runtime) = runtime()?;
    let mut rng = Rng::new(config.seed);
    let data = dataset(config.samples, config.seed ^ 0x5eed);
    let g0 = generator_net().init(&mut rng);
    let d0 = discriminator_net().init(&mut rng);
    let g_names: Vec<String> = g0.iter().map(|p| p.name.clone()).collect();

    let forward = store.put(&generator_forward(&g0))?.hash;
    let mut d = Stepper::new(
        &store,
        &discriminator_model(&d0),
        &TrainSpec { loss: Loss::CrossEntropy, optimizer: Optimizer::Adam, trainable: None },
    )?;
    let mut g = Stepper::new(
        &store,
        &combined_model(&g0, &d0),
        &TrainSpec {
            loss: Loss::CrossEntropy,
            optimizer: Optimizer::Adam,
            trainable: Some(g_names),
        },
    )?;

    let b = config.batch;
    let draw = |runtime: &OrtRuntime, g: &Stepper, z: Vec<f32>| -> Result<Vec<f32>> {
        let n = (z.len() / LATENT) as u64;
        let mut inputs = vec![f32_host(vec![n, LATENT as u64], z)?];
        for p in g.params(&g0) {
            inputs.push(f32_host(p.dims.iter().map(|&d| d as u64).collect(), p.values)?);
        }
        let out = runtime.run(forward, inputs)?;
        f32_of(out.into_iter().next().ok_or("the generator returned nothing")?)
    };
    let (mut d_losses, mut g_losses) = (Vec::new(), Vec::new());
    for iteration in 0..config.iterations {
        // The discriminator: real digits (label 1), then fakes (label 0).
        let mut x: Vec<f32> = Vec::with_capacity(2 * b * PIXELS);
        for _ in 0..b {
            x.extend_from_slice(&data[rng.below(data.len() as u64) as usize]);
        }
        x.extend(draw(&runtime, &g, latents(&mut rng, b))?);
        let labels: Vec<i64> = (0..2 * b).map(|i| i64::from(i < b)).collect();
        let batch = vec![
            f32_host(vec![2 * b as u64, PIXELS as u64], x)?,
            HostTensor::new(vec![2 * b as u64], TensorData::I64(labels)).ok_or("labels")?,
        ];
        let d_loss = d.step(&runtime, batch, config.lr_discriminator)?;

        // The generator, through the discriminator's current (fixed) weights; fakes labelled 1.
        let mut batch = vec![f32_host(vec![b as u64, LATENT as u64], latents(&mut rng, b))?];
        for p in d.params(&d0) {
            batch.push(f32_host(p.dims.iter().map(|&d| d as u64).collect(), p.values)?);
        }
        batch.push(HostTensor::new(vec![b as u64], TensorData::I64(vec![1; b])).ok_or("labels")?);
        let g_loss = g.step(&runtime, batch, config.lr_generator)?;

        if !(d_loss.is_finite() && g_loss.is_finite()) {
            return Err(format!("iteration {iteration}: the losses stopped being finite").into());
        }
        d_losses.push(d_loss);
        g_losses.push(g_loss);
        progress(iteration, d_loss, g_loss);
    }

    let trained = g.params(&g0);
    let mut sample_rng = Rng::new(config.seed ^ 0xfa4e);
    let fakes = draw(&runtime, &g, latents(&mut sample_rng, 32))?;
    Ok(Trained {
        model: generator_model(&trained),
        d_losses,
        g_losses,
        real: data.iter().take(32).copied().collect(),
        fakes: fakes.chunks_exact(PIXELS).map(|c| c.try_into().expect("64 pixels")).collect(),
    })
}

/// Runs a generator file ([`generator_model`]) on latent vectors `z` (`n × 16`, row-major)
/// with ONNX Runtime on this machine; returns `n` images of 64 values in [0, 255].
pub fn generate(model: &[u8], z: &[f32]) -> Result<Vec<Vec<f32>>> {
    let (store, runtime) = runtime()?;
    let hash = store.put(model)?.hash;
    let n = (z.len() / LATENT) as u64;
    let out = runtime.run(hash, vec![f32_host(vec![n, LATENT as u64], z.to_vec())?])?;
    let pixels = f32_of(out.into_iter().next().ok_or("the generator returned nothing")?)?;
    Ok(pixels.chunks_exact(PIXELS).map(<[f32]>::to_vec).collect())
}

/// The mean absolute difference between two images.
pub fn distance(a: &Glyph, b: &Glyph) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / PIXELS as f32
}

/// The mean [`distance`] over all pairs of `images` (0 for fewer than two).
pub fn diversity(images: &[Glyph]) -> f32 {
    let (mut sum, mut pairs) = (0.0, 0);
    for (i, a) in images.iter().enumerate() {
        for b in &images[i + 1..] {
            sum += distance(a, b);
            pairs += 1;
        }
    }
    if pairs == 0 { 0.0 } else { sum / pairs as f32 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mean(images: &[Glyph]) -> f32 {
        images.iter().flatten().sum::<f32>() / (images.len() * PIXELS) as f32
    }

    /// Every digit of the data set has ink and background, and the digits differ.
    #[test]
    fn dataset_draws_distinct_digits() {
        let data = dataset(20, 1);
        for g in &data {
            assert!(g.iter().any(|&v| v > 0.7) && g.iter().any(|&v| v < 0.1), "{g:?}");
        }
        assert!(diversity(&data[..10]) > 0.15, "{}", diversity(&data[..10]));
    }

    /// The generator step trains only the generator's weights, through the discriminator:
    /// its loss falls on a fixed batch while the discriminator's weights are inputs.
    #[test]
    fn generator_step_moves_only_the_generator() {
        let (store, runtime) = runtime().unwrap();
        let mut rng = Rng::new(3);
        let g0 = generator_net().init(&mut rng);
        let d0 = discriminator_net().init(&mut rng);
        let spec = TrainSpec {
            loss: Loss::CrossEntropy,
            optimizer: Optimizer::Adam,
            trainable: Some(g0.iter().map(|p| p.name.clone()).collect()),
        };
        let mut g = Stepper::new(&store, &combined_model(&g0, &d0), &spec).unwrap();
        assert!(g.step.weights.iter().all(|w| w.name.starts_with("g.")));
        let z = latents(&mut rng, 16);
        let batch = || {
            let mut batch = vec![f32_host(vec![16, LATENT as u64], z.clone()).unwrap()];
            for p in &d0 {
                batch.push(
                    f32_host(p.dims.iter().map(|&d| d as u64).collect(), p.values.clone()).unwrap(),
                );
            }
            batch.push(HostTensor::new(vec![16], TensorData::I64(vec![1; 16])).unwrap());
            batch
        };
        let first = g.step(&runtime, batch(), 1e-2).unwrap();
        let mut last = first;
        for _ in 0..20 {
            last = g.step(&runtime, batch(), 1e-2).unwrap();
        }
        assert!(last < first - 0.05, "{first} → {last}");
        assert_ne!(g.params(&g0), g0);
    }

    /// A short GAN run moves the fakes' ink towards the data's: the generator starts near
    /// 0.5 everywhere, the digits are mostly background.
    #[test]
    fn short_training_moves_fakes_towards_the_data() {
        let config = GanConfig { iterations: 300, samples: 512, ..GanConfig::default() };
        let trained = train(&config, |_, _, _| {}).unwrap();
        let mut rng = Rng::new(9);
        let initial = generator_model(&generator_net().init(&mut rng));
        let before = generate(&initial, &latents(&mut rng, 32)).unwrap();
        let before = before.iter().flatten().sum::<f32>() / (32 * PIXELS) as f32 / 255.0;
        let real = mean(&trained.real);
        let (start, end) = ((before - real).abs(), (mean(&trained.fakes) - real).abs());
        assert!(end < start / 2.0, "ink gap {start} → {end} (real mean {real})");
    }
}
