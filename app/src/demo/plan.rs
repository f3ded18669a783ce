//! What the demo builds: three courses in Indonesian, each closed by an assessment lesson whose
//! questions are either auto-graded or open (graded by the instructor).

pub(super) struct CoursePlan {
    pub(super) title: &'static str,
    pub(super) description: &'static str,
    pub(super) lessons: &'static [&'static str],
    pub(super) quiz: QuizPlan,
}

/// The assessment lesson that closes a course.
pub(super) struct QuizPlan {
    pub(super) title: &'static str,
    pub(super) passing_score: i64,
    pub(super) max_attempts: i64,
    pub(super) time_limit_minutes: Option<i64>,
    pub(super) questions: &'static [QuestionPlan],
}

/// A question: multiple choice (options, the correct one) or open.
pub(super) enum QuestionPlan {
    Choice {
        prompt: &'static str,
        options: &'static [&'static str],
        correct: usize,
        points: i64,
    },
    Open {
        prompt: &'static str,
        points: i64,
    },
}

pub(super) const COURSES: [CoursePlan; 3] = [
    CoursePlan {
        title: "Dasar Pemrograman Rust",
        description: "Kepemilikan, peminjaman dan tipe data di Rust.",
        lessons: &[
            "Pengenalan Rust",
            "Kepemilikan",
            "Peminjaman",
            "Enum dan Pattern Matching",
        ],
        // Auto-graded: the grade is known at submission.
        quiz: QuizPlan {
            title: "Kuis Kepemilikan",
            passing_score: 70,
            max_attempts: 3,
            time_limit_minutes: Some(30),
            questions: &[
                QuestionPlan::Choice {
                    prompt: "Berapa pemilik yang dimiliki sebuah nilai pada satu waktu?",
                    options: &["Satu", "Dua", "Tak terbatas"],
                    correct: 0,
                    points: 4,
                },
                QuestionPlan::Choice {
                    prompt: "Apa yang terjadi saat pemilik keluar dari cakupan?",
                    options: &["Nilai disalin", "Nilai di-drop", "Tidak terjadi apa-apa"],
                    correct: 1,
                    points: 3,
                },
                QuestionPlan::Choice {
                    prompt: "Berapa referensi &mut yang boleh aktif bersamaan?",
                    options: &["Nol", "Satu", "Banyak"],
                    correct: 1,
                    points: 3,
                },
            ],
        },
    },
    CoursePlan {
        title: "Basis Data dengan SQL",
        description: "Merancang tabel, menulis kueri dan menjaga transaksi.",
        lessons: &["Tabel dan Kunci", "Kueri SELECT", "Transaksi"],
        // With an open question: the attempt waits for the instructor.
        quiz: QuizPlan {
            title: "Ujian Transaksi",
            passing_score: 60,
            max_attempts: 2,
            time_limit_minutes: None,
            questions: &[
                QuestionPlan::Choice {
                    prompt: "Huruf A pada ACID berarti?",
                    options: &["Availability", "Atomicity", "Accuracy"],
                    correct: 1,
                    points: 3,
                },
                QuestionPlan::Open {
                    prompt: "Jelaskan mengapa event ditulis dalam transaksi yang sama dengan perubahan data.",
                    points: 7,
                },
            ],
        },
    },
    CoursePlan {
        title: "Arsitektur Berbasis Event",
        description: "Event domain, outbox transaksional dan antrean.",
        lessons: &[
            "Event Domain",
            "Outbox Transaksional",
            "Antrean dan Worker",
            "Idempotensi",
            "Observabilitas",
        ],
        quiz: QuizPlan {
            title: "Proyek Akhir: Outbox",
            passing_score: 70,
            max_attempts: 3,
            time_limit_minutes: Some(60),
            questions: &[
                QuestionPlan::Choice {
                    prompt: "Kapan listener antrean menerima sebuah event?",
                    options: &["Sebelum commit", "Setelah commit", "Tidak pasti"],
                    correct: 1,
                    points: 2,
                },
                QuestionPlan::Open {
                    prompt: "Rancang listener yang aman dijalankan dua kali.",
                    points: 5,
                },
                QuestionPlan::Open {
                    prompt: "Bagaimana worker menangani lease yang kedaluwarsa?",
                    points: 3,
                },
            ],
        },
    },
];
