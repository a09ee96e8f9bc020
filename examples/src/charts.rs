//! The examples' figures: line charts as SVG files (with `plotters`' SVG backend, which needs
//! no fonts: the text is SVG text that the viewer sets), and grey-level images as PNG files
//! (with the `png` crate).

use crate::common::Result;
use plotters::{element::DashedPathElement, prelude::*};
use std::path::Path;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A line, `width` pixels wide.
    Line(u32),
    /// A line with a dot at every point.
    LinePoints,
    /// A thin dashed line (for reference levels).
    Dashed,
}

/// One line of a chart, named in the legend.
#[derive(Debug, Clone)]
pub struct Series {
    /// Its name in the legend.
    pub label: String,
    /// Its colour (RGB).
    pub colour: [u8; 3],
    /// How it is drawn.
    pub style: Style,
    /// Its points (x, y), in order of x.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series named `label` of `values` at x = 1, 2, 3, ….
    pub fn numbered(label: &str, colour: [u8; 3], style: Style, values: &[f64]) -> Self {
        let points = values.iter().enumerate().map(|(i, &v)| ((i + 1) as f64, v)).collect();
        Self { label: label.into(), colour, style, points }
    }

    /// A horizontal line at `y` from x = `from` to `to`.
    pub fn level(label: &str, colour: [u8; 3], y: f64, from: f64, to: f64) -> Self {
        Self { label: label.into(), colour, style: Style::Dashed, points: vec![(from, y), (to, y)] }
    }
}

/// Where the legend sits in the plot area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legend {
    /// Upper right corner.
    UpperRight,
    /// Upper left corner.
    UpperLeft,
    /// Lower left corner.
    LowerLeft,
}

/// A line chart with a title, labelled axes, ticks, a grid and a legend.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// The title, above the plot.
    pub title: String,
    /// The x axis' label, with its unit.
    pub x_label: String,
    /// The y axis' label, with its unit.
    pub y_label: String,
    /// The series, drawn in order (later ones on top) and listed in the legend.
    pub series: Vec<Series>,
    /// Where the legend goes.
    pub legend: Legend,
    /// Whether the y axis starts at 0 (when no value is below 0).
    pub y_from_zero: bool,
}

/// The chart's size in pixels (SVG user units).
pub const SIZE: (u32, u32) = (800, 500);

impl LineChart {
    /// The chart as an SVG document.
    pub fn svg(&self) -> Result<String> {
        let points = || self.series.iter().flat_map(|s| s.points.iter().copied());
        let (x0, x1) = bounds(points().map(|p| p.0)).ok_or("the chart has no points")?;
        let (mut y0, mut y1) = bounds(points().map(|p| p.1)).ok_or("the chart has no points")?;
        if self.y_from_zero {
            y0 = y0.min(0.0);
        }
        let pad = if y1 > y0 { (y1 - y0) * 0.06 } else { 1.0 };
        y1 += pad;
        if !(self.y_from_zero && y0 == 0.0) {
            y0 -= pad;
        }
        // Half a step of room either side of numbered points, so that none sits on an axis.
        let whole_x = points().all(|p| p.0.fract() == 0.0);
        let room = if whole_x { 0.5 } else { 0.0 };
        let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
        let (x0, x1) = (x0 - room, x1 + room);

        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(&self.title, ("sans-serif", 24).into_font().color(&BLACK))
                .margin(16)
                .x_label_area_size(48)
                .y_label_area_size(72)
                .build_cartesian_2d(x0..x1, y0..y1)?;
            let x_format = |x: &f64| {
                if x.fract() == 0.0 { format!("{x:.0}") } else { format!("{x}") }
            };
            chart
                .configure_mesh()
                .x_desc(&self.x_label)
                .y_desc(&self.y_label)
                .axis_desc_style(("sans-serif", 17))
                .label_style(("sans-serif", 15))
                .x_labels(12)
                .y_labels(10)
                .x_label_formatter(&x_format)
                .light_line_style(WHITE)
                .bold_line_style(RGBColor(215, 215, 215))
                .draw()?;
            for series in &self.series {
                let [r, g, b] = series.colour;
                let colour = RGBColor(r, g, b);
                let style = match series.style {
                    Style::Line(width) => colour.stroke_width(width),
                    Style::LinePoints => colour.stroke_width(2),
                    Style::Dashed => colour.stroke_width(1),
                };
                let drawn = match series.style {
                    Style::Dashed => chart.draw_series(DashedLineSeries::new(
                        series.points.iter().copied(),
                        6,
                        4,
                        style,
                    ))?,
                    _ => {
                        chart.draw_series(LineSeries::new(series.points.iter().copied(), style))?
                    }
                };
                let dashed = series.style == Style::Dashed;
                drawn.label(&series.label).legend(move |(x, y)| -> DynElement<'static, _, _> {
                    let ends = vec![(x, y), (x + 24, y)];
                    if dashed {
                        DashedPathElement::new(ends, 6, 4, style).into_dyn()
                    } else {
                        PathElement::new(ends, style).into_dyn()
                    }
                });
                if series.style == Style::LinePoints {
                    chart.draw_series(
                        series.points.iter().map(|&p| Circle::new(p, 3, colour.filled())),
                    )?;
                }
            }
            let position = match self.legend {
                Legend::UpperRight => SeriesLabelPosition::UpperRight,
                Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
                Legend::LowerLeft => SeriesLabelPosition::LowerLeft,
            };
            chart
                .configure_series_labels()
                .position(position)
                .label_font(("sans-serif", 15))
                .background_style(WHITE.mix(0.9))
                .border_style(RGBColor(160, 160, 160))
                .margin(12)
                .draw()?;
            root.present()?;
        }
        Ok(svg)
    }

    /// Writes the chart to `path` as SVG.
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.svg()?).map_err(|e| format!("{}: {e}", path.display()).into())
    }
}

/// The smallest and largest of the finite `values`; `None` if there are none.
fn bounds(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((v.min(lo), v.max(hi))),
    })
}

/// A grey-level image, row-major: 0 is black, 255 white.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreyImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width × height` grey levels.
    pub pixels: Vec<u8>,
}

impl GreyImage {
    /// A `width`×`height` image of grey level `level`.
    pub fn new(width: usize, height: usize, level: u8) -> Self {
        Self { width, height, pixels: vec![level; width * height] }
    }

    /// The image as a PNG file (8-bit greyscale).
    pub fn png(&self) -> Result<Vec<u8>> {
        if self.pixels.len() != self.width * self.height {
            return Err(format!(
                "{} pixels for a {}×{} image",
                self.pixels.len(),
                self.width,
                self.height
            )
            .into());
        }
        let mut out = Vec::new();
        let (width, height) = (u32::try_from(self.width)?, u32::try_from(self.height)?);
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(&self.pixels)?;
        writer.finish()?;
        Ok(out)
    }

    /// Writes the image to `path` as PNG.
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.png()?).map_err(|e| format!("{}: {e}", path.display()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LineChart {
        LineChart {
            title: "Loss & more".into(),
            x_label: "transaction".into(),
            y_label: "loss (nats)".into(),
            series: vec![
                Series::level("uniform guess", [120, 120, 120], 1.5, 1.0, 4.0),
                Series::numbered("loss", [200, 40, 40], Style::LinePoints, &[1.2, 0.7, 0.4, 0.3]),
            ],
            legend: Legend::UpperRight,
            y_from_zero: true,
        }
    }

    /// The SVG carries the title (escaped), both axis labels, the legend and whole-number ticks.
    #[test]
    fn svg_has_title_axes_ticks_and_legend() {
        let svg = sample().svg().unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
        // The text of every <text> element.
        let texts: Vec<&str> =
            svg.split("</text>").filter_map(|t| t.rsplit('>').next()).map(str::trim).collect();
        for text in ["Loss &amp; more", "transaction", "loss (nats)", "uniform guess", "loss"] {
            assert!(texts.contains(&text), "no text {text:?} in the SVG: {texts:?}");
        }
        // x ticks are whole transactions, y ticks start at 0.
        assert!(texts.contains(&"2") && texts.contains(&"0.0"), "{texts:?}");
        let mut empty = sample();
        empty.series.clear();
        assert!(empty.svg().is_err());
    }

    /// A grey image survives a PNG round trip through the `png` decoder.
    #[test]
    fn grey_png_round_trips() {
        let mut image = GreyImage::new(3, 2, 128);
        image.pixels[4] = 255;
        let bytes = image.png().unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(bytes)).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height, info.color_type), (3, 2, png::ColorType::Grayscale));
        assert_eq!(&buf[..info.buffer_size()], &image.pixels[..]);
        image.pixels.pop();
        assert!(image.png().is_err());
    }
}
