//! `hotdeal load --plot`: one SVG with a run's latency over time and its latency histogram.
//!
//! Workers record one [`Sample`] (start offset and latency, 8 bytes) per request in a
//! [`SampleBuffer`] only when a plot is asked for. Memory is bounded: all buffers together hold at
//! most [`MAX_SAMPLES`] samples (32 MB); past that a buffer keeps every 2nd, then every 4th, ...
//! request, so a long run is decimated evenly over its whole length rather than cut off.
//! [`render_svg`] is pure: samples and a summary in, SVG text out.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::load::LoadReport;

/// The most samples all workers keep together (8 bytes each).
pub const MAX_SAMPLES: usize = 4_000_000;

/// The time-series panel aims for at most this many buckets.
const MAX_TIME_BUCKETS: u64 = 100;

/// Histogram buckets per decade of latency.
const BUCKETS_PER_DECADE: f64 = 10.0;

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 940;
const HEADER_PX: u32 = 84;
const FONT: &str = "sans-serif";

const P50_COLOR: RGBColor = RGBColor(31, 119, 180);
const P99_COLOR: RGBColor = RGBColor(255, 127, 14);
const MAX_COLOR: RGBColor = RGBColor(214, 39, 40);
const THROUGHPUT_COLOR: RGBColor = RGBColor(120, 120, 120);
const BAR_COLOR: RGBColor = RGBColor(70, 130, 180);

/// One request: when it started, in ms since the run's start, and its latency in µs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub offset_ms: u32,
    pub latency_us: u32,
}

impl Sample {
    /// Saturates at u32::MAX (49 days of offset, 71 minutes of latency).
    pub fn new(offset: Duration, latency: Duration) -> Sample {
        let sat = |x: u128| u32::try_from(x).unwrap_or(u32::MAX);
        Sample {
            offset_ms: sat(offset.as_millis()),
            latency_us: sat(latency.as_micros()).max(1),
        }
    }
}

/// One worker's samples, at most `cap` of them: it keeps every `stride`-th request and doubles
/// the stride (dropping every other kept sample) whenever it is full.
#[derive(Debug, Clone)]
pub struct SampleBuffer {
    samples: Vec<Sample>,
    cap: usize,
    stride: u64,
    seen: u64,
}

impl SampleBuffer {
    /// A buffer for one of `workers` workers, so that all of them hold at most [`MAX_SAMPLES`].
    pub fn for_workers(workers: usize) -> SampleBuffer {
        SampleBuffer::with_cap(MAX_SAMPLES / workers.max(1))
    }

    /// A buffer of at most `cap` samples (at least 2).
    pub fn with_cap(cap: usize) -> SampleBuffer {
        SampleBuffer {
            samples: Vec::new(),
            cap: cap.max(2),
            stride: 1,
            seen: 0,
        }
    }

    /// Record one request.
    pub fn record(&mut self, sample: Sample) {
        let n = self.seen;
        self.seen += 1;
        if !n.is_multiple_of(self.stride) {
            return;
        }
        if self.samples.len() == self.cap {
            // Kept samples are requests 0, s, 2s, ...: keeping the even positions leaves
            // 0, 2s, 4s, ..., and request n is kept only if it is a multiple of 2s too.
            keep_every(&mut self.samples, 2);
            self.stride *= 2;
            if !n.is_multiple_of(self.stride) {
                return;
            }
        }
        self.samples.push(sample);
    }

    /// Requests recorded (kept or not).
    pub fn seen(&self) -> u64 {
        self.seen
    }
}

/// Keep positions 0, k, 2k, ... of `v`.
fn keep_every(v: &mut Vec<Sample>, k: usize) {
    let mut i = 0;
    v.retain(|_| {
        let keep = i % k == 0;
        i += 1;
        keep
    });
}

/// All workers' samples, sorted by start offset; each stands for `weight` requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Samples {
    pub samples: Vec<Sample>,
    pub weight: u64,
}

impl Samples {
    /// Samples that each stand for one request.
    pub fn exact(mut samples: Vec<Sample>) -> Samples {
        samples.sort_by_key(|s| s.offset_ms);
        Samples { samples, weight: 1 }
    }

    /// Merge the workers' buffers, decimating the denser ones so every sample has one weight.
    pub fn merge(buffers: impl IntoIterator<Item = SampleBuffer>) -> Samples {
        let buffers: Vec<SampleBuffer> = buffers.into_iter().collect();
        let weight = buffers.iter().map(|b| b.stride).max().unwrap_or(1);
        let mut samples = Vec::with_capacity(buffers.iter().map(|b| b.samples.len()).sum());
        for mut b in buffers {
            // Strides are powers of two, so this keeps exactly the multiples of `weight`.
            keep_every(&mut b.samples, (weight / b.stride) as usize);
            samples.extend(b.samples);
        }
        samples.sort_by_key(|s| s.offset_ms);
        Samples { samples, weight }
    }
}

/// What the caption says about the run.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotSummary {
    pub scenario: String,
    pub concurrency: usize,
    pub requests: u64,
    pub elapsed_s: f64,
    pub throughput_rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl From<&LoadReport> for PlotSummary {
    fn from(r: &LoadReport) -> PlotSummary {
        PlotSummary {
            scenario: format!("{:?}", r.scenario).to_lowercase(),
            concurrency: r.concurrency,
            requests: r.requests,
            elapsed_s: r.elapsed_s,
            throughput_rps: r.throughput_rps,
            p50_ms: r.latency.p50_ms,
            p99_ms: r.latency.p99_ms,
        }
    }
}

/// Render and write the SVG to `path`.
pub fn write_svg(path: &Path, samples: &Samples, summary: &PlotSummary) -> anyhow::Result<()> {
    let svg = render_svg(samples, summary)?;
    std::fs::write(path, svg).with_context(|| format!("writing the plot to {}", path.display()))
}

/// The SVG: a caption with the run's summary, then latency over time (p50 / p99 / max per time
/// bucket, log scale, with throughput on a second axis) above a latency histogram with
/// log-scaled buckets. With no samples it still renders the caption and says "no requests".
pub fn render_svg(samples: &Samples, summary: &PlotSummary) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let (header, body) = root.split_vertically(HEADER_PX);
        draw_header(&header, samples, summary)?;
        if samples.samples.is_empty() {
            body.draw(&Text::new(
                "no requests: nothing to plot",
                ((WIDTH / 2) as i32, (HEIGHT / 3) as i32),
                font(28).pos(Pos::new(HPos::Center, VPos::Center)),
            ))?;
        } else {
            let (top, bottom) = body.split_vertically((HEIGHT - HEADER_PX) / 2);
            draw_time_series(&top, samples)?;
            draw_histogram(&bottom, samples, summary)?;
        }
        root.present()?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Sizes are plotters' nominal ones: the SVG says about 0.8 of them in px.
fn font(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().color(&BLACK)
}

fn draw_header(area: &Area<'_>, samples: &Samples, s: &PlotSummary) -> anyhow::Result<()> {
    let title = format!("hotdeal load: {} scenario", s.scenario);
    let mut line = format!(
        "concurrency {}, {} requests in {:.2} s, {}, p50 {:.2} ms, p99 {:.2} ms",
        s.concurrency,
        indicatif::HumanCount(s.requests),
        s.elapsed_s,
        super::load::per_second(s.throughput_rps, "req/s"),
        s.p50_ms,
        s.p99_ms
    );
    if samples.weight > 1 {
        line.push_str(&format!(
            " (plotted: 1 in {} requests, {} samples)",
            samples.weight,
            samples.samples.len()
        ));
    }
    let x = (WIDTH / 2) as i32;
    let top = Pos::new(HPos::Center, VPos::Top);
    let bold = (FONT, 30, FontStyle::Bold).into_font().color(&BLACK);
    area.draw(&Text::new(title, (x, 12), bold.pos(top)))?;
    area.draw(&Text::new(line, (x, 46), font(20).pos(top)))?;
    Ok(())
}

const PANEL_TITLE_PX: u32 = 34;
const LEGEND_PX: u32 = 26;

/// A panel's title, then its legend as one centred row (so it never hides data); returns the
/// area left for the chart.
fn panel<'a>(
    area: &Area<'a>,
    title: &str,
    legend: &[(String, RGBColor)],
) -> anyhow::Result<Area<'a>> {
    let (width, _) = area.dim_in_pixel();
    let (head, rest) = area.split_vertically(PANEL_TITLE_PX + LEGEND_PX);
    head.draw(&Text::new(
        title.to_string(),
        ((width / 2) as i32, 6),
        font(24).pos(Pos::new(HPos::Center, VPos::Top)),
    ))?;
    let style = font(17);
    let (swatch, gap, spacing) = (24u32, 6u32, 30u32);
    let mut widths = Vec::with_capacity(legend.len());
    for (label, _) in legend {
        widths.push(head.estimate_text_size(label, &style)?.0);
    }
    let total = widths
        .iter()
        .map(|w| swatch + gap + w + spacing)
        .sum::<u32>()
        - spacing;
    let mut x = (width.saturating_sub(total) / 2) as i32;
    let y = (PANEL_TITLE_PX + LEGEND_PX / 2) as i32;
    for ((label, color), w) in legend.iter().zip(widths) {
        head.draw(&PathElement::new(
            [(x, y), (x + swatch as i32, y)],
            color.stroke_width(3),
        ))?;
        head.draw(&Text::new(
            label.clone(),
            (x + (swatch + gap) as i32, y),
            style.pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
        x += (swatch + gap + w + spacing) as i32;
    }
    Ok(rest)
}

/// One time bucket: its centre in s, latency percentiles in ms, and throughput in req/s.
#[derive(Debug, Clone, PartialEq)]
struct TimeBucket {
    mid_s: f64,
    /// [p50, p99, max] in ms; None when no request started in the bucket.
    latency_ms: Option<[f64; 3]>,
    throughput_rps: f64,
}

/// The smallest 1-2-5 width in ms that splits `span_ms` into at most [`MAX_TIME_BUCKETS`].
fn bucket_width_ms(span_ms: u64) -> u64 {
    let mut decade = 1;
    loop {
        for m in [1, 2, 5] {
            let w = m * decade;
            if span_ms.div_ceil(w) <= MAX_TIME_BUCKETS {
                return w;
            }
        }
        decade *= 10;
    }
}

/// Samples in time buckets of `width_ms` by start offset, over [0, `span_ms`): the last bucket
/// ends with the last request's answer if that comes first, so it is not undercounted.
#[derive(Debug, Clone, PartialEq)]
struct TimeSeries {
    width_ms: u64,
    span_ms: u64,
    buckets: Vec<TimeBucket>,
}

fn time_series(samples: &Samples) -> TimeSeries {
    let starts_ms = samples
        .samples
        .iter()
        .map(|s| s.offset_ms as u64)
        .max()
        .unwrap_or(0)
        + 1;
    let end_ms = samples
        .samples
        .iter()
        .map(|s| s.offset_ms as u64 + (s.latency_us as u64).div_ceil(1000))
        .max()
        .unwrap_or(0)
        .max(starts_ms);
    let width = bucket_width_ms(starts_ms);
    let n = starts_ms.div_ceil(width) as usize;
    let span_ms = end_ms.min(n as u64 * width);
    let mut per: Vec<Vec<u32>> = vec![Vec::new(); n];
    for s in &samples.samples {
        per[(s.offset_ms as u64 / width) as usize].push(s.latency_us);
    }
    let buckets = per
        .into_iter()
        .enumerate()
        .map(|(i, mut lat)| {
            let start = i as u64 * width;
            // The last bucket may be cut short by the end of the run.
            let len_s = width.min(span_ms - start) as f64 / 1000.0;
            lat.sort_unstable();
            let latency_ms = (!lat.is_empty()).then(|| {
                let ms = |q: f64| quantile(&lat, q) as f64 / 1000.0;
                [ms(0.5), ms(0.99), ms(1.0)]
            });
            TimeBucket {
                mid_s: (start as f64 + len_s * 500.0) / 1000.0,
                latency_ms,
                throughput_rps: (lat.len() as u64 * samples.weight) as f64 / len_s,
            }
        })
        .collect();
    TimeSeries {
        width_ms: width,
        span_ms,
        buckets,
    }
}

/// Nearest-rank quantile of sorted, non-empty values.
fn quantile(sorted: &[u32], q: f64) -> u32 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn draw_time_series(area: &Area<'_>, samples: &Samples) -> anyhow::Result<()> {
    let TimeSeries {
        width_ms,
        span_ms,
        buckets,
    } = time_series(samples);
    let span_s = span_ms as f64 / 1000.0;
    let lat: Vec<(f64, [f64; 3])> = buckets
        .iter()
        .filter_map(|b| b.latency_ms.map(|l| (b.mid_s, l)))
        .collect();
    let lo = lat.iter().map(|(_, l)| l[0]).fold(f64::INFINITY, f64::min);
    let hi = lat.iter().map(|(_, l)| l[2]).fold(0.0, f64::max);
    let (lo, hi) = log_bounds(lo, hi);
    let tp_max = buckets
        .iter()
        .map(|b| b.throughput_rps)
        .fold(0.0, f64::max)
        .max(1.0);

    // Index into a bucket's [p50, p99, max]; drawn in this order so p50 stays on top.
    let series = [
        ("max", MAX_COLOR, 2),
        ("p99", P99_COLOR, 1),
        ("p50", P50_COLOR, 0),
    ];
    let mut legend: Vec<(String, RGBColor)> = series
        .iter()
        .rev()
        .map(|(n, c, _)| (n.to_string(), *c))
        .collect();
    legend.push(("throughput (right axis)".into(), THROUGHPUT_COLOR));
    let title = format!(
        "Latency over time (per {} bucket)",
        fmt_duration_ms(width_ms)
    );
    let area = panel(area, &title, &legend)?;

    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(76)
        .right_y_label_area_size(76)
        .build_cartesian_2d(
            0.0..span_s,
            (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)),
        )?
        .set_secondary_coord(0.0..span_s, 0.0..tp_max * 1.15);
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc("latency (ms, log scale)")
        .x_label_formatter(&|v| fmt_num(*v))
        .y_label_formatter(&|v| fmt_num(*v))
        .label_style(font(16))
        .axis_desc_style(font(18))
        .light_line_style(TRANSPARENT)
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("throughput (req/s)")
        .y_label_formatter(&|v| fmt_num(*v))
        .label_style(font(16))
        .axis_desc_style(font(18))
        .draw()?;

    chart.draw_secondary_series(LineSeries::new(
        buckets.iter().map(|b| (b.mid_s, b.throughput_rps)),
        THROUGHPUT_COLOR.stroke_width(2),
    ))?;
    for (_, color, i) in series {
        chart.draw_series(LineSeries::new(
            lat.iter().map(|(x, l)| (*x, l[i])),
            color.stroke_width(2),
        ))?;
    }
    Ok(())
}

fn draw_histogram(area: &Area<'_>, samples: &Samples, summary: &PlotSummary) -> anyhow::Result<()> {
    let bins = histogram(samples);
    let (lo, hi) = (
        bins.first().map_or(0.001, |b| b.0),
        bins.last().map_or(1.0, |b| b.1),
    );
    let top = bins.iter().map(|b| b.2).max().unwrap_or(1).max(1) as f64 * 1.1;
    let marks: Vec<(String, f64, RGBColor)> = [
        ("p50", summary.p50_ms, P50_COLOR),
        ("p99", summary.p99_ms, P99_COLOR),
    ]
    .into_iter()
    .filter(|(_, ms, _)| (lo..=hi).contains(ms))
    .map(|(name, ms, color)| (format!("{name} {ms:.2} ms"), ms, color))
    .collect();
    let mut legend = vec![("requests per bucket".to_string(), BAR_COLOR)];
    legend.extend(
        marks
            .iter()
            .map(|(label, _, color)| (label.clone(), *color)),
    );
    let title = format!("Latency histogram (log-scaled buckets, {BUCKETS_PER_DECADE} per decade)");
    let area = panel(area, &title, &legend)?;

    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(76)
        // The top panel's right axis width, so the two plots line up.
        .margin_right(12 + 76)
        .build_cartesian_2d(
            (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)),
            0.0..top,
        )?;
    chart
        .configure_mesh()
        .x_desc("latency (ms, log scale)")
        .y_desc("requests")
        .x_label_formatter(&|v| fmt_num(*v))
        .y_label_formatter(&|v| fmt_num(*v))
        .label_style(font(16))
        .axis_desc_style(font(18))
        .light_line_style(TRANSPARENT)
        .draw()?;
    chart.draw_series(bins.iter().map(|&(a, b, n)| {
        // A sliver of gap (in log space) keeps neighbouring bars apart.
        Rectangle::new(
            [(a * 1.01, 0.0), (b / 1.01, n as f64)],
            BAR_COLOR.mix(0.8).filled(),
        )
    }))?;
    for (_, ms, color) in &marks {
        chart.draw_series(std::iter::once(PathElement::new(
            [(*ms, 0.0), (*ms, top)],
            color.stroke_width(2),
        )))?;
    }
    Ok(())
}

/// Histogram bins (low ms, high ms, requests) with [`BUCKETS_PER_DECADE`] log-spaced bins per
/// decade of µs, from the lowest non-empty bin to the highest.
fn histogram(samples: &Samples) -> Vec<(f64, f64, u64)> {
    let bin = |us: u32| ((us.max(1) as f64).log10() * BUCKETS_PER_DECADE).floor() as i64;
    let (Some(min), Some(max)) = (
        samples.samples.iter().map(|s| bin(s.latency_us)).min(),
        samples.samples.iter().map(|s| bin(s.latency_us)).max(),
    ) else {
        return Vec::new();
    };
    let mut counts = vec![0u64; (max - min + 1) as usize];
    for s in &samples.samples {
        counts[(bin(s.latency_us) - min) as usize] += samples.weight;
    }
    let edge_ms = |k: i64| 10f64.powf(k as f64 / BUCKETS_PER_DECADE) / 1000.0;
    counts
        .into_iter()
        .enumerate()
        .map(|(i, n)| {
            let k = min + i as i64;
            (edge_ms(k), edge_ms(k + 1), n)
        })
        .collect()
}

/// A log axis range around [lo, hi] with a little room, valid even for one value.
fn log_bounds(lo: f64, hi: f64) -> (f64, f64) {
    if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && hi >= lo) {
        return (0.001, 1.0);
    }
    (lo / 1.3, hi * 1.3)
}

/// Tick values for a log axis over [lo, hi]: 1-2-5 steps (more on a short range, only powers
/// of ten on a long one).
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let decades = (hi / lo).log10();
    let steps: &[f64] = if decades <= 1.2 {
        &[1.0, 1.5, 2.0, 3.0, 5.0, 7.0]
    } else if decades <= 3.5 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    (first..=last)
        // Dividing by 10^-k rounds 0.7 to 0.7, where multiplying by 10^k gives 0.7000000000000001.
        .flat_map(|k| {
            steps.iter().map(move |m| {
                if k < 0 {
                    m / 10f64.powi(-k)
                } else {
                    m * 10f64.powi(k)
                }
            })
        })
        .filter(|v| (lo..=hi).contains(v))
        .collect()
}

/// Numbers for tick labels: no float noise, no trailing zeros.
fn fmt_num(v: f64) -> String {
    let s = if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn fmt_duration_ms(ms: u64) -> String {
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{ms} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The trimmed contents of every <text> element.
    fn texts(svg: &str) -> Vec<&str> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| t.split_once('>')?.1.split_once("</text>"))
            .map(|(inner, _)| inner.trim())
            .collect()
    }

    fn summary(requests: u64) -> PlotSummary {
        PlotSummary {
            scenario: "coupon".into(),
            concurrency: 8,
            requests,
            elapsed_s: 2.0,
            throughput_rps: requests as f64 / 2.0,
            p50_ms: 1.0,
            p99_ms: 9.0,
        }
    }

    /// 2 s of requests, one per ms, mostly about 1 ms with a slow tail.
    fn synthetic() -> Samples {
        Samples::exact(
            (0..2000u32)
                .map(|i| Sample {
                    offset_ms: i,
                    latency_us: if i % 100 == 0 { 20_000 } else { 800 + i % 400 },
                })
                .collect(),
        )
    }

    #[test]
    fn renders_both_panels_with_titles_labels_and_the_summary() {
        let svg = render_svg(&synthetic(), &summary(2000)).expect("renders");
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for text in [
            "hotdeal load: coupon scenario",
            "concurrency 8, 2,000 requests in 2.00 s, 1,000 req/s, p50 1.00 ms, p99 9.00 ms",
            "Latency over time (per 20 ms bucket)",
            "time since start (s)",
            "latency (ms, log scale)",
            "throughput (req/s)",
            "Latency histogram (log-scaled buckets, 10 per decade)",
            "requests",
            "requests per bucket",
            "p50",
            "p99",
            "max",
            "throughput (right axis)",
            "p50 1.00 ms",
            "p99 9.00 ms",
        ] {
            assert!(texts(&svg).contains(&text), "no <text> {text:?}");
        }
        assert!(!svg.contains("plotted: 1 in"), "not decimated");
    }

    #[test]
    fn no_samples_still_renders_and_says_so() {
        let svg = render_svg(&Samples::exact(Vec::new()), &summary(0)).expect("renders");
        assert!(svg.starts_with("<svg") && svg.contains("</svg>"));
        assert!(texts(&svg).contains(&"no requests: nothing to plot"));
        assert!(svg.contains("0 requests in"));
    }

    #[test]
    fn a_single_sample_renders() {
        let one = Samples::exact(vec![Sample {
            offset_ms: 0,
            latency_us: 1,
        }]);
        let svg = render_svg(&one, &summary(1)).expect("renders");
        assert!(svg.contains("Latency histogram"));
    }

    #[test]
    fn time_series_buckets_hold_percentiles_and_throughput() {
        let ts = time_series(&synthetic());
        // Starts over 2000 ms, the last answer at 2001 ms.
        assert_eq!((ts.span_ms, ts.width_ms, ts.buckets.len()), (2000, 20, 100));
        assert!(
            ts.buckets.iter().all(|b| b.throughput_rps == 1000.0),
            "{ts:?}"
        );
        let first = &ts.buckets[0];
        let [p50, p99, max] = first.latency_ms.expect("requests in the first bucket");
        assert!(p50 < p99 && p99 <= max, "{first:?}");
        assert_eq!(max, 20.0);
        assert_eq!(first.throughput_rps, 1000.0);
    }

    #[test]
    fn histogram_counts_every_request_in_log_bins() {
        let s = synthetic();
        let bins = histogram(&s);
        assert_eq!(bins.iter().map(|b| b.2).sum::<u64>(), 2000);
        for w in bins.windows(2) {
            assert!((w[0].1 - w[1].0).abs() < 1e-12, "bins touch");
            assert!(
                (w[0].1 / w[0].0 - w[1].1 / w[1].0).abs() < 1e-9,
                "equal log widths"
            );
        }
        assert!(bins[0].0 <= 0.8 && bins.last().unwrap().1 > 20.0);
    }

    #[test]
    fn a_full_buffer_decimates_evenly_and_merge_weights_agree() {
        let mut a = SampleBuffer::with_cap(100);
        for i in 0..1000u32 {
            a.record(Sample {
                offset_ms: i,
                latency_us: 1,
            });
        }
        assert_eq!(a.seen(), 1000);
        assert!(a.samples.len() <= 100);
        assert_eq!(a.stride, 16);
        // Requests 0, 16, 32, ...: spread over the whole run.
        assert!(a.samples.iter().all(|s| s.offset_ms % 16 == 0));
        assert_eq!(a.samples.len(), 1000usize.div_ceil(16));

        let mut b = SampleBuffer::with_cap(100);
        for i in 0..150u32 {
            b.record(Sample {
                offset_ms: i,
                latency_us: 1,
            });
        }
        assert_eq!(b.stride, 2);
        let merged = Samples::merge([a, b]);
        assert_eq!(merged.weight, 16);
        assert_eq!(merged.samples.len(), 63 + 150usize.div_ceil(16));
        assert!(
            merged
                .samples
                .windows(2)
                .all(|w| w[0].offset_ms <= w[1].offset_ms)
        );
    }

    #[test]
    fn the_buffers_together_stay_under_the_bound() {
        assert!(SampleBuffer::for_workers(16).cap * 16 <= MAX_SAMPLES);
        assert_eq!(SampleBuffer::for_workers(0).cap, MAX_SAMPLES);
    }

    #[test]
    fn decimated_samples_are_weighted_and_the_caption_says_so() {
        let mut s = synthetic();
        s.weight = 4;
        assert_eq!(histogram(&s).iter().map(|b| b.2).sum::<u64>(), 8000);
        assert_eq!(time_series(&s).buckets[0].throughput_rps, 4000.0);
        let svg = render_svg(&s, &summary(8000)).expect("renders");
        assert!(svg.contains("(plotted: 1 in 4 requests, 2000 samples)"));
    }

    #[test]
    fn log_ticks_are_round_and_inside_the_range() {
        assert_eq!(log_ticks(0.6, 25.0), [1.0, 2.0, 5.0, 10.0, 20.0]);
        assert_eq!(log_ticks(0.6, 4.0), [0.7, 1.0, 1.5, 2.0, 3.0]);
        assert_eq!(log_ticks(0.001, 60_000.0).len(), 8);
    }

    #[test]
    fn a_bad_path_is_named_in_the_error() {
        let path = Path::new("/nonexistent-dir/plot.svg");
        let err = write_svg(path, &synthetic(), &summary(2000)).unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent-dir/plot.svg"),
            "{err:#}"
        );
    }
}
