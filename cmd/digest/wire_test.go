package main

import (
	"testing"
	"time"

	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/mailer"
)

func TestMailerOptionsFromConfig(t *testing.T) {
	t.Setenv("TEST_SMTP_PW", "s3cret")
	cfg := &config.Config{
		SMTP: config.SMTP{Host: "mx.example.org", Port: 587, TLS: "starttls", Username: "u", PasswordEnv: "TEST_SMTP_PW",
			Concurrency: 3, Rate: 7.5, Timeout: time.Second, MaxPerConnection: 50, HELO: "out.example.org", InsecureSkipVerify: true},
		Delivery: config.Delivery{Retries: 2, RetryBackoff: time.Second, MaxBackoff: time.Minute},
	}
	o := mailerOptions(cfg, nil, nil)
	want := mailer.Options{Host: "mx.example.org", Port: 587, TLS: "starttls", Username: "u", Password: "s3cret",
		HELO: "out.example.org", InsecureSkipVerify: true, Concurrency: 3, Rate: 7.5, Timeout: time.Second,
		MaxPerConnection: 50, Retries: 2, RetryBackoff: time.Second, MaxBackoff: time.Minute}
	if o != want {
		t.Fatalf("got  %+v\nwant %+v", o, want)
	}
	if _, err := mailer.New(o); err != nil {
		t.Fatal(err)
	}
}
