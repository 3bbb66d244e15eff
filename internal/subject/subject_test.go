package subject_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/transferwatch/transferwatch/internal/subject"
)

// TestSipHashVector checks the reference vector of the SipHash paper
// (Aumasson and Bernstein, appendix A): key 00…0f, message 00…0e.
func TestSipHashVector(t *testing.T) {
	key, err := subject.ParseKey("000102030405060708090a0b0c0d0e0f")
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, 15)
	for i := range msg {
		msg[i] = byte(i)
	}
	if got, want := subject.New(key).Sum(string(msg)), uint64(0xa129ca6149be45e5); got != want {
		t.Errorf("SipHash-2-4 = %#x, want %#x", got, want)
	}
	if got, want := subject.New(key).SumBytes(msg), uint64(0xa129ca6149be45e5); got != want {
		t.Errorf("SumBytes = %#x, want %#x", got, want)
	}
}

func TestKeyedAndStable(t *testing.T) {
	k1, _ := subject.ParseKey(strings.Repeat("ab", 16))
	k2, _ := subject.ParseKey(strings.Repeat("cd", 16))
	h1, h2 := subject.New(k1), subject.New(k2)
	if a, b := h1.Sum("user-1"), h1.Sum("user-1"); a != b {
		t.Error("same key, same id: hashes differ")
	}
	if h1.Sum("user-1") == h2.Sum("user-1") {
		t.Error("different keys give the same hash")
	}
	if got := h1.AppendSums(nil, []string{"a", "b"}); len(got) != 2 || got[0] != h1.Sum("a") || got[1] != h1.Sum("b") {
		t.Errorf("AppendSums = %v", got)
	}
}

func TestParseKey(t *testing.T) {
	good := " 000102030405060708090A0B0C0D0E0F\n"
	if _, err := subject.ParseKey(good); err != nil {
		t.Errorf("ParseKey(%q): %v", good, err)
	}
	for _, bad := range []string{"", "00", strings.Repeat("0", 31), strings.Repeat("0", 33), strings.Repeat("zz", 16)} {
		_, err := subject.ParseKey(bad)
		if !errors.Is(err, subject.ErrKey) {
			t.Errorf("ParseKey(%q) = %v, want ErrKey", bad, err)
		}
		if bad != "" && strings.Contains(err.Error(), bad) {
			t.Errorf("error repeats the key: %v", err)
		}
	}
}
