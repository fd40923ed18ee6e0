// GELU, tanh approximation (as GPT-2): gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// Functions only: the launchers of gelu.wgsl, matmul.wgsl and bmm.wgsl put this file in front of
// their own code (WGSL has no imports), so the fused epilogues of the products and the GELU
// kernels compute the same expressions.

const GELU_SQRT_2_OVER_PI: f32 = 0.7978845608028654;
// Untyped (an abstract float), as the literal it replaced: 3.0 * GELU_CUBE is then computed in
// abstract precision and rounded to f32 once, and the kernels give the bits they gave before.
const GELU_CUBE = 0.044715;

fn gelu_value(x: f32) -> f32 {
  let u = GELU_SQRT_2_OVER_PI * (x + GELU_CUBE * x * x * x);
  return 0.5 * x * (1.0 + tanh(u));
}

// d gelu(x) / dx
fn gelu_slope(x: f32) -> f32 {
  let u = GELU_SQRT_2_OVER_PI * (x + GELU_CUBE * x * x * x);
  let t = tanh(u);
  let sech2 = 1.0 - t * t;
  return 0.5 * (1.0 + t) + 0.5 * x * sech2 * GELU_SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBE * x * x);
}
