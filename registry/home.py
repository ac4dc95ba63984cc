"""What the public home page shows beyond its text. Apps that know the figures add a provider in
AppConfig.ready(): HOME_PROVIDERS.append(callable returning a context dict). registry imports none of them."""

HOME_PROVIDERS: list = []


def home_context() -> dict:
    context: dict = {}
    for provider in HOME_PROVIDERS:
        context.update(provider())
    return context
