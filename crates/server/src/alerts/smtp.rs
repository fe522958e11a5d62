//! A minimal SMTP client for alert email: plain SMTP to a relay that accepts us without a login
//! (a local MTA, a relay inside the network), one message per connection. Enough for a line of
//! text to a few recipients; anything fancier belongs in the relay.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A whole conversation, connect to QUIT.
const CONVERSATION: Duration = Duration::from_secs(20);

#[derive(Debug, thiserror::Error)]
pub enum SmtpError {
    #[error("cannot talk to the SMTP server: {0}")]
    Io(#[from] std::io::Error),
    #[error("the SMTP server answered {code} to {step}")]
    Refused { step: &'static str, code: u16 },
    #[error("the SMTP server did not answer within {0:?}")]
    TimedOut(Duration),
}

pub struct Message<'a> {
    pub from: &'a str,
    pub to: &'a [String],
    pub subject: &'a str,
    pub body: &'a str,
}

/// Sends `message` through `server` (`HOST:PORT`). Addresses were checked when configured (one
/// line, no brackets); the subject and body are made safe here.
pub async fn send(server: &str, message: &Message<'_>) -> Result<(), SmtpError> {
    tokio::time::timeout(CONVERSATION, converse(server, message)).await.map_err(|_| SmtpError::TimedOut(CONVERSATION))?
}

async fn converse(server: &str, message: &Message<'_>) -> Result<(), SmtpError> {
    let stream = TcpStream::connect(server).await?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    expect(&mut read, "the greeting", &[220]).await?;
    say(&mut write, "EHLO switchyard").await?;
    expect(&mut read, "EHLO", &[250]).await?;
    say(&mut write, &format!("MAIL FROM:<{}>", message.from)).await?;
    expect(&mut read, "MAIL FROM", &[250]).await?;
    for to in message.to {
        say(&mut write, &format!("RCPT TO:<{to}>")).await?;
        expect(&mut read, "RCPT TO", &[250, 251]).await?;
    }
    write.write_all(b"DATA\r\n").await?;
    expect(&mut read, "DATA", &[354]).await?;
    write.write_all(content(message).as_bytes()).await?;
    expect(&mut read, "the message", &[250]).await?;
    write.write_all(b"QUIT\r\n").await?;
    // The message is accepted; a server that hangs up without a goodbye changes nothing.
    let _ = expect(&mut read, "QUIT", &[221]).await;
    Ok(())
}

async fn say<W: tokio::io::AsyncWrite + Unpin>(write: &mut W, line: &str) -> std::io::Result<()> {
    write.write_all(format!("{line}\r\n").as_bytes()).await
}

/// Reads one reply (its continuation lines `250-…` too) and checks its code.
async fn expect<R: tokio::io::AsyncBufRead + Unpin>(read: &mut R, step: &'static str, codes: &[u16]) -> Result<(), SmtpError> {
    let mut line = String::new();
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Err(SmtpError::Io(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("connection closed before {step}"))));
        }
        let code = line.get(..3).and_then(|c| c.parse::<u16>().ok()).unwrap_or(0);
        if line.as_bytes().get(3) == Some(&b'-') {
            continue;
        }
        return if codes.contains(&code) { Ok(()) } else { Err(SmtpError::Refused { step, code }) };
    }
}

/// The message as sent after DATA: headers, the body with CRLF line ends and leading dots
/// doubled, and the final dot.
fn content(message: &Message<'_>) -> String {
    let subject: String = message.subject.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' }).collect();
    let mut out = format!(
        "From: <{}>\r\nTo: {}\r\nSubject: {subject}\r\nDate: {}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        message.from,
        message.to.iter().map(|t| format!("<{t}>")).collect::<Vec<_>>().join(", "),
        date(switchyard_core::time::now_ms()),
    );
    for line in message.body.lines() {
        if line.starts_with('.') {
            out.push('.');
        }
        out.extend(line.chars().filter(|c| *c != '\r'));
        out.push_str("\r\n");
    }
    out.push_str(".\r\n");
    out
}

/// RFC 5322 date without the optional day of the week: `7 Dec 2026 19:50:58 +0000`.
fn date(now_ms: i64) -> String {
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let text = switchyard_core::time::rfc3339(now_ms);
    let month = text.get(5..7).and_then(|m| m.parse::<usize>().ok()).and_then(|m| MONTHS.get(m.wrapping_sub(1))).unwrap_or(&"Jan");
    let day = text.get(8..10).and_then(|d| d.parse::<u32>().ok()).unwrap_or(1);
    format!("{day} {month} {} {} +0000", text.get(..4).unwrap_or("1970"), text.get(11..19).unwrap_or("00:00:00"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_cannot_end_the_message_early_and_the_subject_is_one_line() {
        let to = vec!["ops@example.com".to_string()];
        let message = Message { from: "gw@example.com", to: &to, subject: "team `a\r\nBcc: x@y`", body: "one\n.\nthree\r\n" };
        let text = content(&message);
        assert!(text.contains("Subject: team `a??Bcc: x@y`\r\n"), "{text}");
        assert!(text.ends_with("\r\none\r\n..\r\nthree\r\n.\r\n"), "{text}");
        assert_eq!(text.matches("\r\n.\r\n").count(), 1);
    }

    #[test]
    fn dates_are_rfc_5322() {
        assert_eq!(date(1_795_329_900_000), "22 Nov 2026 06:45:00 +0000");
    }
}
