package vt

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// conformanceCases are the hand-written inputs of the tmux conformance set.
// `go test -run Conformance -update` writes each to testdata/conformance/NAME.in
// (together with the generated random streams) and records tmux's screen.
//
// Left out of this set, where tmux 3.3 differs from xterm, and covered by unit
// tests that follow xterm instead: CHT, HPR, VPR, LNM and the UK character set
// (tmux ignores them); IL/DL with the cursor outside the scroll margins (xterm
// ignores them, tmux scrolls to the screen's bottom); LF, BS, erase and insert
// while a wrap is pending (tmux keeps the cursor past the margin, so the next
// character still wraps); DECSTR (tmux keeps origin mode); overwriting the
// right half of a wide character (xterm blanks the left half, tmux keeps it);
// DECSCA with DECSED/DECSEL (tmux has no selective erase).
var conformanceCases = map[string]string{
	"text_basic":        "hello\r\nworld",
	"lf_keeps_column":   "abc\ndef\ngh",
	"cr_overwrite":      "abcdef\rXY",
	"backspace":         "abcd\b\bX",
	"autowrap":          strings.Repeat("abcdefghijklmnopqrstuvwxyz", 7),
	"pending_wrap_cr":   strings.Repeat("x", 80) + "\rY",
	"pending_wrap_cup":  strings.Repeat("x", 80) + "\x1b[5;5HQ",
	"pending_wrap_next": strings.Repeat("x", 80) + "Y",
	"wrap_scroll":       numberedLines(30, "\r\n"),
	"wrap_scroll_long":  strings.Repeat("0123456789", 200),
	"cup":               "\x1b[3;5HA\x1b[10;20HB\x1b[HC\x1b[24;80HD",
	"cup_clamp":         "\x1b[99;99HX\x1b[0;0HY\x1b[;5HZ",
	"hvp":               "\x1b[4;4fA\x1b[f B",
	"cursor_relative":   "\x1b[10;10HX\x1b[3AU\x1b[5BD\x1b[4CR\x1b[8DL\x1b[AB\x1b[99AT\x1b[99BV",
	"cnl_cpl":           "\x1b[5;10Habc\x1b[2Ed\x1b[3Fe\x1b[Ef",
	"cha_hpa_vpa":       "\x1b[5;5Ha\x1b[20Gb\x1b[40`c\x1b[10dd\x1b[Ge\x1b[dg",
	"cuf_clamp":         "abc\x1b[200CX\x1b[200DY",
	"ed0":               "\x1b#8\x1b[12;40H\x1b[J",
	"ed1":               "\x1b#8\x1b[12;40H\x1b[1J",
	"ed2":               "\x1b#8\x1b[12;40H\x1b[2JX",
	"ed3_keeps_screen":  "one\r\ntwo\x1b[3Jthree",
	"el":                "\x1b#8\x1b[2;40H\x1b[K\x1b[3;40H\x1b[1K\x1b[4;40H\x1b[2K",
	"ech":               "\x1b#8\x1b[2;10H\x1b[5X\x1b[3;78H\x1b[10X\x1b[4;1H\x1b[X",
	"ich":               "abcdefgh\x1b[1;3H\x1b[2@XY\x1b[2;1H" + strings.Repeat("z", 79) + "\x1b[2;5H\x1b[@",
	"dch":               "abcdefghij\x1b[1;3H\x1b[3P\x1b[2;1H" + strings.Repeat("w", 80) + "\x1b[2;70H\x1b[99P",
	"il_dl":             numberedLinesNoFinal(24) + "\x1b[5;3H\x1b[2L\x1b[10;1H\x1b[3M",
	"il_dl_region":      numberedLinesNoFinal(24) + "\x1b[5;15r\x1b[7;1H\x1b[3L\x1b[12;1H\x1b[2M\x1b[15;1H\x1b[L",
	"decstbm_scroll":    numberedLinesNoFinal(24) + "\x1b[5;10r\x1b[10;1H\nA\nB\nC",
	"decstbm_invalid":   "\x1b[10;5r\x1b[5;5HX\x1b[24;1H\nY",
	"ind_ri":            numberedLinesNoFinal(24) + "\x1b[1;1H\x1bM\x1bMtop\x1b[24;1H\x1bD\x1bDbottom",
	"ri_region":         numberedLinesNoFinal(24) + "\x1b[3;8r\x1b[3;1H\x1bM\x1bMnew",
	"nel":               "abc\x1bEdef\x1bEghi",
	"su_sd":             numberedLinesNoFinal(24) + "\x1b[3S\x1b[5;5Hx\x1b[2T",
	"su_sd_region":      numberedLinesNoFinal(24) + "\x1b[4;12r\x1b[2S\x1b[3T",
	"origin_mode":       "\x1b[5;10r\x1b[?6h\x1b[HA\x1b[3;3HB\x1b[99;1HC\x1b[?6lD",
	"decawm_off":        "\x1b[?7l" + strings.Repeat("abcdefghij", 10) + "\r\nnext\x1b[?7h",
	"tabs_default":      "a\tb\tc\td\r\n\t\t\t\t\t\t\t\t\t\t\tend",
	"tabs_set_clear":    "\x1b[3g\x1b[5GH\x1bH\x1b[15G\x1bH\r\tA\tB\tC\r\n\x1b[3g\tZ",
	"tabs_tbc0":         "\x1b[9G\x1b[0g\r\tX",
	"cbt":               "\x1b[1;50H\x1b[ZA\x1b[2ZB\x1b[99ZC",
	"irm":               "abcdef\x1b[1;3H\x1b[4hXYZ\x1b[4lQ",
	"irm_wrap":          strings.Repeat("q", 78) + "\x1b[1;2H\x1b[4hINS\x1b[4l",
	"sgr_text":          "\x1b[1;31mred\x1b[0m \x1b[4;42mgreen\x1b[m \x1b[38;5;196mx\x1b[38;2;1;2;3my\x1b[7mz",
	"sgr_colon":         "\x1b[38:2::10:20:30mA\x1b[48:5:100mB\x1b[4:3mC\x1b[mD",
	"dec_graphics":      "\x1b(0lqqqqk\r\nx    x\r\nmqqqqj\x1b(B done\r\n\x1b(0`afgjklmnopqrstuvwxyz{|}~\x1b(B",
	"so_si":             "\x1b)0a\x0elqk\x0fb\x0eqq\x0fc",
	"decsc_decrc":       "\x1b[5;5Habc\x1b7\x1b[20;20Hxyz\x1b8def",
	"csi_s_u":           "\x1b[3;3Habc\x1b[s\x1b[10;10Hxyz\x1b[udef",
	"decrc_unsaved":     "\x1b[5;5Habc\x1b8X",
	"alt_1049":          "main text\x1b[?1049halt text\x1b[3;3Hmore",
	"alt_1049_exit":     "main text\x1b[5;5Hhere\x1b[?1049halt\x1b[2Jjunk\x1b[?1049lback",
	"alt_47":            "main\x1b[?47halt\x1b[?47l more",
	"alt_1047":          "main\x1b[?1047halt\x1b[?1047l\x1b[?1047h again",
	"decaln":            "\x1b#8\x1b[12;30Hhello",
	"ris":               "junk\x1b[5;5Hmore\x1b[?7l\x1bcfresh " + strings.Repeat("w", 80),
	"utf8_wide":         "中文字符 wide\r\n日本語テキスト",
	"utf8_wide_wrap":    strings.Repeat("a", 79) + "中x",
	"combining":         "e\u0301a\u0308 n\u0303o",
	"can_sub":           "ab\x1b[31\x18cd\x1b[2\x1aef",
	"c0_in_csi":         "abc\x1b[2\r;5Hx",
	"esc_in_csi":        "abc\x1b[1;\x1b[3;3Hx",
	"osc_title":         "\x1b]0;my title\x07after\x1b]2;other\x1b\\more",
	"dcs_ignored":       "\x1bPq#0;1;2;3;4~-\x1b\\after",
	"apc_pm_sos":        "\x1b_apc\x1b\\a\x1b^pm\x1b\\b\x1bXsos\x1b\\c",
	"rep":               "a\x1b[5bb\x1b[3b",
	"scroll_many":       numberedLines(100, "\r\n"),
	"cud_below_region":  "\x1b[5;10r\x1b[15;1H\x1b[99BX\x1b[3;1H\x1b[99BY\x1b[20;1H\x1b[99AZ",
	"ind_below_region":  "\x1b[5;10r\x1b[24;1Hlast\nX\x1b[12;1H\x1bMY",
}

func numberedLines(n int, sep string) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %03d%s", i, sep)
	}
	return b.String()
}

func numberedLinesNoFinal(n int) string {
	s := numberedLines(n, "\r\n")
	return strings.TrimSuffix(s, "\r\n") + "\x1b[H"
}

// randomCases returns n random streams from a seeded generator: text, CUP,
// ED/EL, IL/DL, ICH/DCH, DECSTBM, IND/RI, SGR, tabs, wraps and line drawing.
func randomCases(n int) map[string]string {
	out := make(map[string]string, n)
	for i := 0; i < n; i++ {
		rng := rand.New(rand.NewPCG(uint64(i)+1, 0x7465726d67617465))
		out[fmt.Sprintf("random_%02d", i)] = randomStream(rng, 300)
	}
	return out
}

func randomStream(rng *rand.Rand, ops int) string {
	var b strings.Builder
	words := []string{"alpha", "beta", "gamma", "delta", "lorem", "ipsum", "termgate", "x", "0123456789"}
	top, bot := 1, 24 // the scroll margins the stream has set
	for i := 0; i < ops; i++ {
		switch k := rng.IntN(20); k {
		case 0, 1, 2, 3:
			w := words[rng.IntN(len(words))]
			b.WriteString(w)
			b.WriteByte(' ')
		case 4:
			fmt.Fprintf(&b, "\x1b[%d;%dH", 1+rng.IntN(24), 1+rng.IntN(80))
		case 5:
			// Erasing the display is kept rare so the final screens stay full.
			if rng.IntN(5) == 0 {
				fmt.Fprintf(&b, "\x1b[%d;%dH\x1b[%dJ", 1+rng.IntN(24), 1+rng.IntN(80), rng.IntN(3))
			} else {
				b.WriteString(words[rng.IntN(len(words))])
			}
		case 6:
			fmt.Fprintf(&b, "\x1b[%d;%dH\x1b[%dK", 1+rng.IntN(24), 1+rng.IntN(80), rng.IntN(3))
		case 7:
			// IL and DL only inside the margins.
			row := top + rng.IntN(bot-top+1)
			fmt.Fprintf(&b, "\x1b[%d;1H\x1b[%d%c", row, 1+rng.IntN(4), "LM"[rng.IntN(2)])
		case 8:
			fmt.Fprintf(&b, "\x1b[%d;%dH\x1b[%d%c", 1+rng.IntN(24), 1+rng.IntN(80), 1+rng.IntN(6), "@P"[rng.IntN(2)])
		case 9:
			if rng.IntN(3) == 0 {
				top, bot = 1, 24
				b.WriteString("\x1b[r")
			} else {
				top = 1 + rng.IntN(20)
				bot = top + 1 + rng.IntN(24-top)
				fmt.Fprintf(&b, "\x1b[%d;%dr", top, bot)
			}
		case 10:
			fmt.Fprintf(&b, "\x1b[%d;%dH", 1+rng.IntN(24), 1+rng.IntN(80))
			for j := rng.IntN(4); j >= 0; j-- {
				b.WriteString([]string{"\x1bD", "\x1bM", "\n", "\x1bE"}[rng.IntN(4)])
			}
		case 11:
			fmt.Fprintf(&b, "\x1b[%d;%d;%dm", rng.IntN(10), 30+rng.IntN(8), 40+rng.IntN(8))
		case 12:
			fmt.Fprintf(&b, "\x1b[%d;%dH", 1+rng.IntN(24), 1+rng.IntN(80))
			for j := rng.IntN(4); j >= 0; j-- {
				b.WriteString("\t")
				b.WriteString(words[rng.IntN(len(words))])
			}
		case 13:
			// A long run that wraps, then a CR so no wrap is left pending.
			fmt.Fprintf(&b, "\x1b[%d;%dH", 1+rng.IntN(24), 1+rng.IntN(80))
			n := 60 + rng.IntN(120)
			for j := 0; j < n; j++ {
				b.WriteByte(byte('a' + rng.IntN(26)))
			}
			b.WriteString("\r")
		case 14:
			b.WriteString("\x1b(0")
			for j := 2 + rng.IntN(10); j > 0; j-- {
				b.WriteByte("lqkxmjtuvwn"[rng.IntN(11)])
			}
			b.WriteString("\x1b(B")
		case 15:
			b.WriteString("\r\n")
		case 16:
			fmt.Fprintf(&b, "\x1b[%d;%dH\x1b[%dX", 1+rng.IntN(24), 1+rng.IntN(80), 1+rng.IntN(10))
		case 17:
			fmt.Fprintf(&b, "\x1b[%d%c", 1+rng.IntN(5), "ABCD"[rng.IntN(4)])
		case 18:
			fmt.Fprintf(&b, "\x1b[%d%c", 1+rng.IntN(3), "ST"[rng.IntN(2)])
		case 19:
			b.WriteString("\x1b[m")
		}
	}
	b.WriteString("\x1b[m\x1b[r")
	return b.String()
}
