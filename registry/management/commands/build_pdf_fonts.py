from django.core.management.base import BaseCommand

from registry import pdf_fonts


class Command(BaseCommand):
    help = (
        "Make the PDFs' compact Chinese fonts in PDF_FONT_DIR from the system's Noto Serif CJK SC, if they "
        "are missing or their source or characters changed (registry/pdf_fonts.py, ADR 0016). Without the "
        "system font it says so and writes nothing: PDFs then use the system fonts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Make them even if they are up to date.")

    def handle(self, *args, force=False, **options):
        self.stdout.write(pdf_fonts.build(force=force))
