"""Words that name the same thing across English, French, Dutch and jargon (k8s = Kubernetes).

Each group is a concept; every surface form (a word or a short phrase, written as people write
it) maps to one concept term ``=name`` that the lexical index adds beside the word's own stem, so
"k8s" in a profile meets "Kubernetes" in a question, and "btw" meets "TVA".  Only true
equivalents belong here (translations, abbreviations, job title and its field); broader meaning
is the embedding's job.
"""

from __future__ import annotations

import re

GROUPS: dict[str, tuple[str, ...]] = {
    "kubernetes": ("kubernetes", "k8s", "kube", "k3s"),
    "gdpr": ("gdpr", "avg", "rgpd", "dsgvo", "data protection", "gegevensbescherming",
             "protection des données", "privacy law"),
    "vat": ("vat", "btw", "tva", "sales tax", "omzetbelasting"),
    "freelancer": ("freelancer", "freelance", "freelancing", "zzp", "zzper", "zzp'er",
                   "zelfstandige", "zelfstandig", "indépendant", "independant", "indépendante",
                   "auto-entrepreneur", "autoentrepreneur", "self-employed", "contractor"),
    "accounting": ("accountant", "accounting", "accountancy", "bookkeeper", "bookkeeping",
                   "boekhouder", "boekhouding", "comptable", "comptabilité", "expert-comptable",
                   "administratie"),
    "invoice": ("invoice", "invoices", "invoicing", "factuur", "facturen", "facturatie",
                "facture", "factures", "facturation", "billing"),
    "tax": ("tax", "taxes", "belasting", "belastingen", "belastingaangifte", "impôts", "impôt",
            "impots", "fiscal", "fiscaal", "fiscalité", "fiscaliteit", "tax return"),
    "law": ("lawyer", "attorney", "legal", "advocaat", "jurist", "juriste", "avocat", "avocate",
            "juridique", "juridisch", "law", "droit", "recht"),
    "contract": ("contract", "contracts", "contrat", "contrats", "overeenkomst", "terms and "
                 "conditions", "algemene voorwaarden", "cgv"),
    "developer": ("developer", "dev", "programmer", "coder", "software engineer",
                  "ontwikkelaar", "développeur", "développeuse", "programmeur", "codeur"),
    "javascript": ("javascript", "js", "ecmascript", "node.js", "nodejs"),
    "typescript": ("typescript", "ts"),
    "python": ("python", "py", "django", "flask", "fastapi"),
    "postgres": ("postgres", "postgresql", "psql"),
    "database": ("database", "databases", "db", "databank", "base de données", "sql"),
    "ml": ("ml", "machine learning", "apprentissage automatique", "deep learning"),
    "ai": ("ai", "ia", "artificial intelligence", "intelligence artificielle",
           "kunstmatige intelligentie", "llm", "llms", "genai"),
    "ux": ("ux", "user experience", "ui/ux", "uxui", "expérience utilisateur",
           "gebruikerservaring", "usability"),
    "design": ("designer", "design", "ontwerper", "ontwerp", "graphiste", "vormgever",
               "vormgeving", "conception graphique", "graphic design"),
    "aws": ("aws", "amazon web services", "ec2", "s3"),
    "gcp": ("gcp", "google cloud"),
    "azure": ("azure", "microsoft azure"),
    "devops": ("devops", "sre", "site reliability", "infra", "infrastructure", "ops", "server",
               "servers", "serveur", "serveurs", "hosting", "hébergement", "outage", "downtime",
               "uptime", "on-call", "sysadmin", "system administrator"),
    "iac": ("terraform", "infrastructure as code", "iac", "pulumi", "ansible"),
    "cicd": ("ci", "cicd", "ci/cd", "continuous integration", "continuous delivery",
             "github actions", "gitlab ci"),
    "seo": ("seo", "search engine optimization", "search engine optimisation", "référencement",
            "zoekmachineoptimalisatie"),
    "marketing": ("marketing", "marketeer", "marketer", "growth", "mercatique"),
    "funding": ("fundraising", "investor", "investors", "investisseur", "investisseurs",
                "investeerder", "investeerders", "vc", "venture capital", "levée de fonds",
                "funding", "financiering", "financement", "business angel", "angel", "seed round"),
    "startup": ("startup", "start-up", "startups", "scale-up", "scaleup", "jeune pousse"),
    "translation": ("translator", "translation", "translate", "vertaler", "vertaling",
                    "vertalen", "traducteur", "traductrice", "traduction", "traduire"),
    "photo": ("photographer", "photography", "photo", "photos", "fotograaf", "fotografie",
              "foto", "photographe", "photographie"),
    "video": ("video", "vidéo", "videographer", "vidéaste", "filmmaker", "montage",
              "video editing", "videomontage"),
    "recruiting": ("recruiter", "recruitment", "recruiting", "hiring", "hire", "werving",
                   "aanwerven", "embaucher", "embauche", "vacature", "vacancy",
                   "recrutement", "recruteur", "headhunter", "talent acquisition"),
    "hr": ("hr", "human resources", "ressources humaines", "rh", "personeelszaken"),
    "product": ("product manager", "product owner", "pm", "po", "product management",
                "chef de produit"),
    "sales": ("sales", "verkoop", "vente", "ventes", "commercial", "business development",
              "bizdev", "acquisitie", "prospection"),
    "mobile": ("ios", "android", "iphone", "ipad", "smartphone", "app store", "play store",
               "mobile app", "app mobile", "mobiele app", "application mobile",
               "applications mobiles", "mobile application", "mobiele applicatie", "flutter",
               "react native", "swift", "kotlin"),
    "security": ("security", "infosec", "hacked", "hack", "hacker", "hackers", "breach",
                 "phishing", "malware", "ransomware", "gehackt", "piraté", "cybersecurity",
                 "cyber", "sécurité", "beveiliging", "pentest", "pentesting",
                 "penetration testing"),
    "coach": ("coach", "coaching", "mentor", "mentoring", "begeleiding", "accompagnement"),
    "burnout": ("burnout", "burn-out", "stress", "épuisement", "overspannen"),
    "copywriting": ("copywriter", "copywriting", "rédacteur", "rédactrice", "rédaction",
                    "tekstschrijver", "content writer", "copy"),
    "social": ("social media", "instagram", "linkedin", "tiktok", "réseaux sociaux",
               "sociale media", "community manager"),
    "ecommerce": ("e-commerce", "ecommerce", "webshop", "shopify", "boutique en ligne",
                  "online shop", "webwinkel"),
    "wordpress": ("wordpress", "wp"),
    "data": ("data", "données", "gegevens", "analytics", "data analyst", "data science",
             "data scientist", "bi", "power bi", "tableau"),
    "audio": ("audio", "sound", "son", "geluid", "podcast", "mixing", "sound engineer",
              "ingénieur du son", "geluidstechnicus"),
    "mortgage": ("mortgage", "hypotheek", "prêt immobilier", "crédit immobilier"),
    "insurance": ("insurance", "verzekering", "verzekeringen", "assurance", "assurances"),
    "subsidy": ("subsidy", "subsidies", "grant application", "subsidie", "subvention",
                "subventions", "wbso"),
    "pitch": ("pitch", "pitch deck", "deck", "pitchen"),
    "branding": ("branding", "brand", "logo", "huisstijl", "identité visuelle", "merk"),
    "event": ("event", "events", "evenement", "evenementen", "événement", "événements",
              "meetup", "conference", "conférence"),
    "nutrition": ("nutrition", "nutritionist", "diëtist", "dietist", "diététicien", "voeding"),
    "yoga": ("yoga", "pilates", "mindfulness", "meditation", "méditation", "meditatie"),
}


def surface_map() -> dict[tuple[str, ...], str]:
    """Every surface form as a tuple of lower-case words -> its concept term ``=group``."""
    out: dict[tuple[str, ...], str] = {}
    for group, forms in GROUPS.items():
        for form in forms:
            words = tuple(re.findall(r"[^\W_][^\W_+#]*", form.lower()))
            if words:
                out[words] = "=" + group
    return out


# A question naming the left concept is also about the right ones (query side only): a question
# about invoices is for bookkeepers, one about VAT for accountants and tax advisers.
RELATED: dict[str, tuple[str, ...]] = {
    "invoice": ("accounting",),
    "vat": ("accounting", "tax"),
    "tax": ("accounting",),
    "kubernetes": ("devops",),
    "iac": ("devops",),
    "aws": ("devops",),
    "gcp": ("devops",),
    "azure": ("devops",),
    "cicd": ("devops",),
    "gdpr": ("law",),
    "contract": ("law",),
    "funding": ("pitch", "startup"),
    "pitch": ("funding",),
    "recruiting": ("hr",),
    "hr": ("recruiting",),
    "ux": ("design",),
    "branding": ("design",),
    "seo": ("marketing",),
    "social": ("marketing",),
    "ml": ("data", "ai"),
    "ai": ("ml",),
    "burnout": ("coach",),
}
