//! The lab's chart: per query, one bar per layout, for the median time and the bytes
//! read; as SVG and PNG (plotters, with a font shipped in the crate so that no system
//! font or fontconfig is needed).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::LabError;
use crate::run::{LabResults, QueryResult};

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 900;
const FONT: &str = "sans-serif";

/// Draw `results` into `svg` and `png`.
pub fn draw(results: &LabResults, svg: &Path, png: &Path) -> Result<(), LabError> {
    register_font(svg)?;
    let fail = |path: &Path| {
        let path = path.display().to_string();
        move |reason: String| LabError::Chart {
            path: path.clone(),
            reason,
        }
    };
    {
        let root = SVGBackend::new(svg, (WIDTH, HEIGHT)).into_drawing_area();
        panels(&root, results).map_err(fail(svg))?;
        root.present().map_err(|e| fail(svg)(e.to_string()))?;
    }
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        panels(&root, results).map_err(fail(png))?;
        root.present().map_err(|e| fail(png)(e.to_string()))?;
    }
    write_png(png, &pixels).map_err(fail(png))
}

fn register_font(svg: &Path) -> Result<(), LabError> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            include_bytes!("../assets/DejaVuSans.ttf"),
        )
        .is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(LabError::Chart {
            path: svg.display().to_string(),
            reason: "the shipped font could not be loaded".into(),
        })
    }
}

fn panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    results: &LabResults,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (top, bottom) = root.split_vertically(HEIGHT / 2);
    panel(&top, results, "Median time per query (ms)", |q| q.median_ms)?;
    panel(&bottom, results, "Data read per query (KiB)", |q| {
        q.bytes_read as f64 / 1024.0
    })
}

/// Grouped bars: a group per query, a bar per layout, in the layouts' order.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    results: &LabResults,
    title: &str,
    value: impl Fn(&QueryResult) -> f64,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let queries: Vec<&str> = results.queries.iter().map(|q| q.name.as_str()).collect();
    let groups = queries.len().max(1);
    let top = results
        .layouts
        .iter()
        .flat_map(|l| l.queries.iter().map(&value))
        .fold(0.0f64, f64::max)
        .max(1e-9)
        // Room above the bars for the legend.
        * 1.45;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..groups as f64, 0f64..top)
        .map_err(|e| err(&e))?;
    // Labels at the groups' centres (x = i + 0.5), none elsewhere.
    let label = |x: &f64| {
        let i = x.floor() as usize;
        if (x - x.floor() - 0.5).abs() < 1e-6 {
            queries.get(i).map(|q| q.to_string()).unwrap_or_default()
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(groups * 2 + 1)
        .x_label_formatter(&label)
        .label_style((FONT, 14))
        .draw()
        .map_err(|e| err(&e))?;
    let value = &value;
    let layouts = results.layouts.len().max(1);
    let width = 0.8 / layouts as f64;
    for (l, layout) in results.layouts.iter().enumerate() {
        let color = Palette99::pick(l).to_rgba();
        let bars = layout.queries.iter().enumerate().map(move |(g, q)| {
            let x0 = g as f64 + 0.1 + l as f64 * width;
            Rectangle::new([(x0, 0.0), (x0 + width * 0.9, value(q))], color.filled())
        });
        chart
            .draw_series(bars.collect::<Vec<_>>())
            .map_err(|e| err(&e))?
            .label(format!("{} ({} files)", layout.layout, layout.files))
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .draw()
        .map_err(|e| err(&e))
}

fn write_png(path: &Path, rgb: &[u8]) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())
}
